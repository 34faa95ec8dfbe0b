"""The backends as translators: every OpenJD template passes `openjd check`; golden files pin the OpenJD
bundle, the OpenCue XML and the Deadline 10 info files of one job; submission goes through each farm's
own client (faked here), and a farm whose client is not configured says where its files are."""
import os
import re
import stat
import subprocess
import sys
import xml.dom.minidom

import pytest

from actanywhere.engine import config as config_module, shotspec
from actanywhere.farm import job as job_module
from actanywhere.farm.job import FarmError
from actanywhere.farm.submit import prepare, submit_job, submit_shot

from test_farm_job import job_data, shot_data

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
OPENJD = os.path.join(os.path.dirname(sys.executable), "openjd")
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))


def panel_spec(shot, config):
    """What the Nuke panel sends submit_shot: the shot's spec, resolved by the panel."""
    return shotspec.resolve(shot_data(shot), config).to_data()


def farm_config(tmp_path, *extra):
    return config_module.load(overrides=[
        "farm.path_mapping=[{source: %s, destination: /farm/jobs/demo}, {source: /shows, destination: /mnt/shows}]"
        % tmp_path,
        "farm.worker_command=[/opt/actanywhere/bin/actanywhere]", "farm.deadline10_pool=gpu",
        "farm.deadline10_group=actanywhere", "farm.opencue_show=demo", "farm.chunk_size=2",
        "farm.jobs_dir=%s" % tmp_path] + list(extra)).config  # job folders in the test's folder, not under /shows


def golden_job(tmp_path, config):
    data = job_data()
    data["shots"][1]["export"] = {"script": "/shows/demo/comp/sh020.nk", "node": "ActAnywhere1", "frames": "1001-1004"}
    return job_module.expand_data(data, config)


def check_golden(name, text):
    path = os.path.join(GOLDEN, name)
    if UPDATE or not os.path.exists(path):
        with open(path, "w") as stream:
            stream.write(text)
    with open(path) as stream:
        assert text == stream.read(), "%s differs from the golden file (UPDATE_GOLDEN=1 rewrites it)" % name


def read(path):
    with open(path) as stream:
        return stream.read()


def test_openjd_templates_pass_openjd_check(tmp_path):
    for number, extra in enumerate([(), ("farm.worker_command=[python, -m, actanywhere.engine.cli]",
                                         "farm.worker_device=cuda:0")]):
        config = farm_config(tmp_path, *extra)
        submission = prepare(golden_job(tmp_path, config), config, "openjd", job_dir=str(tmp_path / str(number)))
        template = os.path.join(submission.job_dir, "openjd", "template.yaml")
        completed = subprocess.run([OPENJD, "check", template], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert completed.returncode == 0, completed.stdout
        assert "passes validation" in completed.stdout


def test_openjd_bundle_golden(tmp_path):
    config = farm_config(tmp_path)
    submission = prepare(golden_job(tmp_path, config), config, "openjd", job_dir=str(tmp_path))
    assert submission.worker_job_dir == "/farm/jobs/demo"
    check_golden("farm_openjd_template.yaml", read(os.path.join(str(tmp_path), "openjd", "template.yaml")))
    check_golden("farm_openjd_parameter_values.yaml", read(os.path.join(str(tmp_path), "openjd", "parameter_values.yaml")))


def test_opencue_xml_golden(tmp_path, monkeypatch):
    pytest.importorskip("outline", reason="pyoutline is the optional extra actanywhere[opencue]")
    monkeypatch.setenv("USER", "artist")
    config = farm_config(tmp_path)
    prepare(golden_job(tmp_path, config), config, "opencue", job_dir=str(tmp_path))
    text = read(os.path.join(str(tmp_path), "opencue", "job.xml"))
    text = re.sub(r"<uid>\d+</uid>", "<uid>UID</uid>", text)  # the submitting user's uid
    check_golden("farm_opencue_job.xml", xml.dom.minidom.parseString(text).toprettyxml(indent="  "))


def test_deadline10_info_files_golden(tmp_path):
    config = farm_config(tmp_path)
    prepare(golden_job(tmp_path, config), config, "deadline10", job_dir=str(tmp_path))
    for stage in ("export", "generate", "publish"):
        for kind in ("job_info", "plugin_info"):
            name = "%s.%s.txt" % (stage, kind)
            check_golden("farm_deadline10_" + name, read(os.path.join(str(tmp_path), "deadline10", name)))
    check_golden("farm_deadline10_submit.txt", read(os.path.join(str(tmp_path), "deadline10", "submit.txt")))


def fake_tool(directory, name, body):
    path = os.path.join(str(directory), name)
    with open(path, "w") as stream:
        stream.write("#!/bin/sh\n" + body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


def test_deadline10_submits_dependent_jobs(tmp_path, monkeypatch):
    tools = tmp_path / "bin"
    tools.mkdir()
    fake_tool(tools, "deadlinecommand", 'echo "$@" >> %s/calls.txt\necho "Result=Success"\n'
                                        'echo "JobID=id-$(basename $1 .job_info.txt)"\n' % tools)
    monkeypatch.setenv("PATH", "%s%s%s" % (tools, os.pathsep, os.environ["PATH"]))
    config = farm_config(tmp_path)
    submission = submit_job(golden_job(tmp_path, config), config, "deadline10")
    assert submission.farm_job_id == "id-generate"
    calls = read(str(tools / "calls.txt")).splitlines()
    assert [os.path.basename(call.split()[0]) for call in calls] == [
        "export.job_info.txt", "generate.job_info.txt", "publish.job_info.txt"]
    folder = os.path.join(submission.job_dir, "deadline10")
    assert "JobDependencies=id-export\n" in read(os.path.join(folder, "generate.job_info.txt"))
    assert "JobDependencies=id-generate\n" in read(os.path.join(folder, "publish.job_info.txt"))


def test_openjd_submits_through_the_deadline_cli(tmp_path, monkeypatch):
    tools = tmp_path / "bin"
    tools.mkdir()
    fake_tool(tools, "deadline", 'echo "$@" > %s/call.txt\necho "Submitted job bundle"\n'
                                 'echo "job-0123456789abcdef0123456789abcdef"\n' % tools)
    monkeypatch.setenv("PATH", "%s%s%s" % (tools, os.pathsep, os.environ["PATH"]))
    config = farm_config(tmp_path, "farm.openjd_queue=queue-1", "farm.openjd_farm=farm-1")
    submission = submit_job(golden_job(tmp_path, config), config, "openjd")
    assert submission.farm_job_id == "job-0123456789abcdef0123456789abcdef"
    assert read(str(tools / "call.txt")).split()[:2] == ["bundle", "submit"]
    assert "--queue-id queue-1 --farm-id farm-1" in read(str(tools / "call.txt"))


def test_unconfigured_farm_writes_files_and_says_so(tmp_path):
    config = config_module.load(overrides=["farm.backend=openjd", "farm.jobs_dir=%s" % tmp_path]).config
    with pytest.raises(FarmError, match=r"openjd_queue is not set, so the job bundle .*openjd was written"):
        submit_shot(panel_spec("sh010", config), config=config)
    bundles = [root for root, _, files in os.walk(str(tmp_path)) if "template.yaml" in files]
    assert len(bundles) == 1


def test_submit_shot_matches_the_plugin_contract(tmp_path):
    """The Nuke plugin calls actanywhere.farm.submit_shot(spec_data, export=..., backend=...)."""
    from actanywhere import farm
    from actanywhere.plugin import farm_submit

    assert farm_submit.find_submitter() is farm.submit_shot
    config = config_module.load(overrides=["farm.jobs_dir=%s" % tmp_path]).config
    job = __import__("actanywhere.farm.submit", fromlist=["job_for_shot"]).job_for_shot(
        panel_spec("sh010", config), config, export={"script": "/shows/demo/comp/sh010.nk", "node": "ActAnywhere1",
                                            "frames": "1001-1004", "command": ["nuke", "-t", "x.py"]})
    assert job.shots[0].export.node == "ActAnywhere1"
    assert job.shots[0].export.command == []  # the worker builds its own command


def test_an_openjd_job_of_any_size_passes_openjd_check(tmp_path):
    """Issue 20: a STRING list of task ids holds at most 1024 values; INT ranges hold any number."""
    import yaml
    from types import SimpleNamespace

    from actanywhere.farm.backends import openjd

    job = SimpleNamespace(job_id="big-1", shots=[SimpleNamespace(name="sh%04d" % n) for n in range(1100)],
                          tasks=[SimpleNamespace(task_id="sh%04d-v00-0123456789ab" % n) for n in range(2050)])
    farm = farm_config(tmp_path).farm
    template = openjd.job_template(job, "/farm/jobs/big", farm)
    generate = next(step for step in template["steps"] if step["name"] == "Generate")
    assert generate["parameterSpace"]["taskParameterDefinitions"] == [  # farm_config's chunk_size is 2
        {"name": "Index", "type": "CHUNK[INT]", "range": "1-2050",
         "chunks": {"defaultTaskCount": 2, "rangeConstraint": "CONTIGUOUS"}}]
    assert template["extensions"] == ["TASK_CHUNKING"]
    path = str(tmp_path / "template.yaml")
    with open(path, "w") as stream:
        yaml.safe_dump(template, stream, sort_keys=False)
    completed = subprocess.run([OPENJD, "check", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert completed.returncode == 0 and "passes validation" in completed.stdout, completed.stdout


def test_every_openjd_step_has_hosts_timeouts_and_cancelation_and_the_job_its_retry_limit(tmp_path):
    import yaml

    config = farm_config(tmp_path, "farm.gpu_memory_gib=40", "farm.generate_timeout_s=7200", "farm.max_retries_per_task=3")
    submission = prepare(golden_job(tmp_path, config), config, "openjd", job_dir=str(tmp_path))
    template = yaml.safe_load(read(os.path.join(submission.job_dir, "openjd", "template.yaml")))
    actions = []
    for step in template["steps"]:
        assert step["hostRequirements"]["attributes"] == [{"name": "attr.worker.os.family", "anyOf": ["linux"]}]
        actions.append((step["name"], step["script"]["actions"]["onRun"]))
        for environment in step.get("stepEnvironments", []):
            actions += [(environment["name"], action) for action in environment["script"]["actions"].values()]
    assert all(action["timeout"] > 0 and action["cancelation"]["mode"] == "NOTIFY_THEN_TERMINATE"
               for _, action in actions)
    assert dict(actions)["Generate"]["timeout"] == 7200
    generate = next(step for step in template["steps"] if step["name"] == "Generate")
    assert {"name": "amount.worker.gpu.memory", "min": 40 * 1024} in generate["hostRequirements"]["amounts"]
    values = yaml.safe_load(read(os.path.join(submission.job_dir, "openjd", "parameter_values.yaml")))
    assert {"name": "deadline:maxRetriesPerTask", "value": 3} in values["parameterValues"]


def test_deadline10_resubmits_only_the_stages_deadline_refused(tmp_path, monkeypatch):
    """Issue 20: deadlinecommand accepts the export job and refuses the generate job (Result=Failure);
    the next try submits generate and publish only, depending on the export job it already has."""
    tools = tmp_path / "bin"
    tools.mkdir()
    fake_tool(tools, "deadlinecommand",
              'echo "$@" >> %(tools)s/calls.txt\n'
              'if [ "$(basename $1)" = generate.job_info.txt ] && [ ! -e %(tools)s/refused ]; then\n'
              '  touch %(tools)s/refused; echo "Result=Failure"; echo "Error: the repository is busy"; exit 0\nfi\n'
              'echo "Result=Success"\necho "JobID=id-$(basename $1 .job_info.txt)"\n' % {"tools": tools})
    monkeypatch.setenv("PATH", "%s%s%s" % (tools, os.pathsep, os.environ["PATH"]))
    config = farm_config(tmp_path)
    job = golden_job(tmp_path, config)
    submission = prepare(job, config, "deadline10", job_dir=str(tmp_path / "job"))
    from actanywhere.farm.backends import deadline10

    folder = os.path.join(submission.job_dir, "deadline10")
    with pytest.raises(FarmError, match=r"refused the generate job .*repository is busy.*accepted \(export\)"):
        deadline10.submit(folder, config.farm)
    assert deadline10.submit(folder, config.farm) == "id-generate"
    calls = [os.path.basename(call.split()[0]) for call in read(str(tools / "calls.txt")).splitlines()]
    assert calls == ["export.job_info.txt", "generate.job_info.txt", "generate.job_info.txt", "publish.job_info.txt"]
    generate = read(os.path.join(folder, "generate.job_info.txt"))
    assert generate.count("JobDependencies=") == 1 and "JobDependencies=id-export\n" in generate
    assert "TaskTimeoutMinutes=240\n" in generate and "OnTaskTimeout=Error\n" in generate


def test_the_openjd_bundle_names_its_assets_for_job_attachments(tmp_path):
    """Issue 20: without shared storage, Deadline Cloud's job attachments move what asset_references.yaml
    names: the inputs from the submitting machine, the outputs back to it."""
    import yaml

    config = farm_config(tmp_path)
    submission = prepare(golden_job(tmp_path, config), config, "openjd", job_dir=str(tmp_path / "job"))
    assets = yaml.safe_load(read(os.path.join(submission.job_dir, "openjd", "asset_references.yaml")))["assetReferences"]
    assert "/shows/demo/sh010/plate" in assets["inputs"]["directories"]  # as the workstation sees it
    assert "/shows/demo/comp/sh020.nk" in assets["inputs"]["filenames"]  # the export step's script
    assert os.path.join(submission.job_dir, "results") in assets["outputs"]["directories"]
    assert all(not path.startswith("/farm/") for paths in assets["inputs"].values() for path in paths)  # not worker paths


def test_the_panels_local_run_starts_the_configured_command_not_nukes_python(tmp_path, monkeypatch):
    """Issue 17: inside Nuke, sys.executable is the Nuke binary; the detached local run uses
    farm.worker_command (the studio's actanywhere)."""
    started = []

    class Process:
        pid = 4242

    monkeypatch.setattr(subprocess, "Popen", lambda command, **kwargs: started.append(command) or Process())
    config = farm_config(tmp_path, "farm.worker_command=[/opt/actanywhere/bin/actanywhere]", "farm.backend=local")
    reply = submit_shot(panel_spec("sh010", config), config=config)
    assert reply["job_id"] == "local-4242" and len(reply["tasks"]) == 1 and reply["tasks"][0]["task_id"]
    assert started[0][:3] == ["/opt/actanywhere/bin/actanywhere", "farm", "run"] and sys.executable not in started[0]
