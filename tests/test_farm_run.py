"""Farm jobs run for real on the tiny model: a two-shot, two-variant job through `openjd run` (one engine
per session), the same kind of job through the local backend (with a Nuke export stage, faked), and the
reliability promises: reruns skip, a killed task publishes nothing, publish names missing frames."""
import json
import os
import signal
import subprocess
import sys

import opentimelineio as otio
import pytest
import yaml

from actanywhere.engine.cli import main
from actanywhere.engine.media.sequence_read import check_sequence
from actanywhere.engine.sequence import FrameSequence
from actanywhere.farm import job as job_module
from actanywhere.farm.session_engine import engine_starts

from engine_support import make_shot, published_frames, spec_data

OPENJD = os.path.join(os.path.dirname(sys.executable), "openjd")
CLI = [sys.executable, "-m", "actanywhere.engine.cli"]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")


def write_job(tmp_path, shots=("sh010", "sh020"), seeds=(7, 8), **shot_extra):
    for shot in shots:
        make_shot(tmp_path / shot)
    job = {"name": "farmtest", "variants": {"seeds": list(seeds)},
           "shots": [{"spec": spec_data(str(tmp_path / shot), shot=shot, out=str(tmp_path / "out" / shot), **shot_extra)}
                     for shot in shots]}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return str(path)


def kill_while_sampling(command):
    """Run a generate task and SIGKILL it once its progress says it is sampling (20%)."""
    task = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    seen = []
    for line in task.stdout:
        seen.append(line)
        if line.startswith("openjd_progress:") and int(line.split(":")[1]) >= 20:
            task.send_signal(signal.SIGKILL)
            break
    task.wait(60)
    assert task.returncode == -signal.SIGKILL, "".join(seen)


def assert_published(job_dir, shots, seeds):
    for shot in shots:
        with open(os.path.join(job_dir, "results", shot + ".json")) as stream:
            manifest = json.load(stream)
        assert [version["seed"] for version in manifest["versions"]] == list(seeds)
        assert [version["version_name"] for version in manifest["versions"]] == ["v001", "v002"][:len(seeds)]
        for version in manifest["versions"]:
            for pass_name in ("bg", "comp"):
                infos = check_sequence(FrameSequence.parse(version["sequences"][pass_name]), range(1001, 1005))
                assert (infos[0].width, infos[0].height) == (64, 36)
                clip = otio.adapters.read_from_file(version["otio_paths"][pass_name]).find_clips()[0]
                assert clip.metadata["actanywhere"]["seed"] == version["seed"]
        timeline = otio.adapters.read_from_file(manifest["otio"])
        assert len(timeline.tracks) == len(seeds)


@pytest.mark.slow
def test_openjd_run_two_shots_two_variants_one_engine_per_session(tmp_path):
    job_file = write_job(tmp_path)
    job_dir = str(tmp_path / "job")
    assert main(["farm", "submit", job_file, "--backend", "openjd", "--dry-run", job_dir,
                 "--set", "farm.worker_command=[%s, -m, actanywhere.engine.cli]" % sys.executable,
                 "--set", "farm.worker_device=cpu", "--set", "farm.chunk_size=2"]) == 0
    completed = subprocess.run([OPENJD, "run", os.path.join(job_dir, "openjd", "template.yaml"), "-p", "JobDir=" + job_dir,
                                "--step", "Publish", "--run-dependencies"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=ENV, timeout=600)
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "Index(CHUNK[INT]) = 1-2" in completed.stdout and "Index(CHUNK[INT]) = 3-4" in completed.stdout
    assert "Session ended successfully" in completed.stdout
    assert "openjd_progress: 100" in completed.stdout
    assert_published(job_dir, ("sh010", "sh020"), (7, 8))

    # One engine start for the session, and every generate task ran on it (not in its own process).
    assert len(engine_starts(job_dir)) == 1
    job = job_module.load(job_dir)
    engines = set()
    for task in job.tasks:
        with open(os.path.join(job_dir, "state", task.task_id + ".json")) as stream:
            state = json.load(stream)
        assert state["state"] == "done"
        engines.add(state["engine"])
    assert len(engines) == 1 and engines.pop() == engine_starts(job_dir)[0]["endpoint"]
    assert completed.stdout.count("Entering Environment: ActAnywhereEngine") == 1
    # the session's working folder is gone with the session: its engine log is kept in the job folder
    [log] = [name for name in os.listdir(os.path.join(job_dir, "logs")) if name.startswith("engine-")]
    with open(os.path.join(job_dir, "logs", log)) as stream:
        assert "engine" in stream.read().lower()

    # A retried task finds its version and publishes nothing new.
    frames_before = published_frames(tmp_path / "out")
    retry = subprocess.run(CLI + ["farm", "task", "generate", "--job", job_dir, "--index", "1-4"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    assert retry.returncode == 0, retry.stdout
    assert retry.stdout.count("already published; skipped") == 4
    assert published_frames(tmp_path / "out") == frames_before


@pytest.mark.slow
def test_local_backend_end_to_end_with_export(tmp_path, monkeypatch):
    """The local backend runs export (a fake `nuke -t` that renders the inputs), generate on one engine
    per worker, and publish; `farm status` and `farm collect` read the results back. The job's one shot
    is resolved once, by farm submit: no task, engine or worker resolves it again (issue 21)."""
    from resolution_counter import count_everywhere

    make_shot(tmp_path / "source")
    fake_nuke = tmp_path / "nuke"
    fake_nuke.write_text("#!%s\nimport shutil, sys\nshutil.copytree(%r, %r, dirs_exist_ok=True)\nprint('{}')\n"
                         % (sys.executable, str(tmp_path / "source"), str(tmp_path / "sh030")))
    fake_nuke.chmod(0o755)
    data = {"name": "localtest", "variants": {"seeds": [3, 4]},
            "shots": [{"spec": spec_data(str(tmp_path / "sh030"), shot="sh030", out=str(tmp_path / "out")),
                       "export": {"script": str(tmp_path / "comp.nk"), "node": "ActAnywhere1", "frames": "1001-1004"}}]}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(data))
    job_dir = str(tmp_path / "job")
    overrides = ["--set", "farm.nuke_executable=%s" % fake_nuke, "--set", "farm.worker_device=cpu",
                 "--set", "farm.jobs_dir=%s" % job_dir]
    calls = count_everywhere(tmp_path, monkeypatch)
    assert main(["farm", "submit", str(tmp_path / "job.yaml"), "--backend", "local"] + overrides) == 0
    counted = calls()
    assert counted["resolve"] == 1, counted
    assert counted["from_resolved"] >= 4 and counted["processes"] >= 3, counted  # tasks, engine, worker
    [job_folder] = [os.path.join(job_dir, name) for name in os.listdir(job_dir)]
    assert_published(job_folder, ("sh030",), (3, 4))
    assert len(engine_starts(job_folder)) == 1
    status = subprocess.run(CLI + ["farm", "status", job_folder, "--json"], stdout=subprocess.PIPE, text=True, env=ENV)
    rows = json.loads(status.stdout)
    assert [(row["stage"], row["state"]) for row in rows] == [
        ("export", "done"), ("generate", "done"), ("generate", "done"), ("publish", "done")]
    collect = subprocess.run(CLI + ["farm", "collect", job_folder], stdout=subprocess.PIPE, text=True, env=ENV)
    assert "sh030 v001 seed 3: %s/out/v001/sh030_bg_v001.####.exr" % tmp_path in collect.stdout

    # Submitting the same job again runs nothing new.
    assert main(["farm", "submit", str(tmp_path / "job.yaml"), "--backend", "local"] + overrides) == 0
    assert sorted(name for name in published_frames(tmp_path / "out") if "_bg_" in name) == [
        "sh030_bg_v%03d.%d.exr" % (version, frame) for version in (1, 2) for frame in range(1001, 1005)]


@pytest.mark.slow
def test_killed_task_publishes_nothing_and_publish_names_missing_frames(tmp_path):
    job_file = write_job(tmp_path, shots=("sh010",), seeds=(5,), steps=40)
    job_dir = str(tmp_path / "job")
    assert main(["farm", "submit", job_file, "--backend", "local", "--dry-run", job_dir]) == 0
    kill_while_sampling(CLI + ["farm", "task", "generate", "--job", job_dir, "--index", "1"])
    assert published_frames(tmp_path / "out") == []
    status = subprocess.run(CLI + ["farm", "status", job_dir, "--json"], stdout=subprocess.PIPE, text=True, env=ENV)
    [generate] = [row for row in json.loads(status.stdout) if row["stage"] == "generate"]
    assert generate["state"] == "dead" and "is gone" in generate["detail"]  # not "running" for ever

    publish = subprocess.run(CLI + ["farm", "task", "publish", "--job", job_dir, "--shot", "sh010"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    assert publish.returncode == 2
    assert "openjd_fail: publish sh010 refused" in publish.stdout and "has no published version" in publish.stdout

    # The farm retries the task: it runs and publishes one complete version.
    retry = subprocess.run(CLI + ["farm", "task", "generate", "--job", job_dir, "--index", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    assert retry.returncode == 0, retry.stdout
    bg = [name for name in published_frames(tmp_path / "out") if "_bg_" in name]
    assert len(bg) == 4
    # One frame lost afterwards: publish refuses and names it.
    os.remove(os.path.join(str(tmp_path / "out" / "sh010" / "v001"), sorted(bg)[2]))
    publish = subprocess.run(CLI + ["farm", "task", "publish", "--job", job_dir, "--shot", "sh010"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    assert publish.returncode == 2
    assert "bg: frames 1003 missing in" in publish.stdout
    # The task retried now: the damaged version is named, never rewritten, and no second version is made.
    again = subprocess.run(CLI + ["farm", "task", "generate", "--job", job_dir, "--index", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    assert again.returncode != 0 and "is damaged: bg: frames 1003 missing in" in again.stdout, again.stdout
    assert sorted(os.listdir(str(tmp_path / "out" / "sh010"))) == ["v001"]


@pytest.mark.slow
def test_openjd_run_with_the_sessions_path_mapping_rules_reads_and_publishes_in_the_mapped_root(tmp_path):
    """Issue 20: a job written with the workstation's root (/studio_src, which the workers do not have)
    runs on a session whose path mapping rules (a Deadline Cloud storage profile) map it to the real
    root; every path inside the specs follows, and the version is published there."""
    real = tmp_path / "real"
    make_shot(real / "sh010")
    spec = spec_data("/studio_src/sh010", shot="sh010", out="/studio_src/out", frames="1001-1002")
    spec["output"]["template"] = "/studio_src/out/{shot}/{version}/{shot}_{pass}_{version}.####.exr"
    (tmp_path / "job.yaml").write_text(yaml.safe_dump({"name": "mapped", "shots": [{"spec": spec}]}))
    job_dir = str(tmp_path / "job")
    assert main(["farm", "submit", str(tmp_path / "job.yaml"), "--backend", "openjd", "--dry-run", job_dir,
                 "--set", "farm.worker_command=[%s, -m, actanywhere.engine.cli]" % sys.executable,
                 "--set", "farm.worker_device=cpu", "--set", "farm.jobs_dir=%s" % tmp_path]) == 0
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": "/studio_src", "destination_path": str(real)}]}))
    completed = subprocess.run([OPENJD, "run", os.path.join(job_dir, "openjd", "template.yaml"), "-p", "JobDir=" + job_dir,
                                "--path-mapping-rules", "file://" + str(rules), "--step", "Publish", "--run-dependencies"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, timeout=600)
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert sorted(published_frames(real / "out" / "sh010")) == sorted(
        "sh010_%s_v001.%d.exr" % (pass_name, frame) for pass_name in ("bg", "comp") for frame in (1001, 1002))
    with open(os.path.join(job_dir, "results", "sh010.json")) as stream:
        manifest = json.load(stream)
    assert manifest["versions"][0]["folder"] == str(real / "out" / "sh010" / "v001")


@pytest.mark.slow
def test_a_retried_task_whose_first_engine_job_lives_on_publishes_no_second_version(tmp_path):
    """Issue 20's case: the farm kills a generate task's process while the session's engine keeps its job
    running; that job publishes, and the farm's retry (a new engine job of the same task) returns that
    version instead of publishing another (it used to publish v002 beside an untracked v001)."""
    from engine_support import EngineProcess

    job_file = write_job(tmp_path, shots=("sh010",), seeds=(5,), steps=30)
    job_dir = str(tmp_path / "job")
    assert main(["farm", "submit", job_file, "--backend", "local", "--dry-run", job_dir]) == 0
    engine = EngineProcess(tmp_path, tmp_path / "journal")
    try:
        engine.start()
        command = CLI + ["farm", "task", "generate", "--job", job_dir, "--index", "1", "--engine", engine.endpoint]
        kill_while_sampling(command)  # its engine job is sampling: kill the task's own process
        retry = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
                               timeout=600)
        assert retry.returncode == 0, retry.stdout
        assert sorted(os.listdir(str(tmp_path / "out" / "sh010"))) == ["v001"]  # no second version
        with engine.client() as client:
            jobs = client.jobs()
        assert len(jobs) == 2 and all(job["state"] == "done" for job in jobs)  # both ran; one published
    finally:
        assert engine.stop() == 0, engine.log()
