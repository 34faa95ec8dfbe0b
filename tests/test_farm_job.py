"""The farm job model: JOB.yaml validation, expansion into tasks with deterministic ids, the job folder,
and path mapping between workstation and workers."""
import os

import pytest
import yaml

from actanywhere.engine import config as config_module
from actanywhere.farm import job as job_module
from actanywhere.farm.job import FarmError
from actanywhere.farm.path_mapping import PathMapper


def shot_data(shot, root="/shows/demo"):
    return {"shot": shot, "plate": "%s/%s/plate/p.%%04d.exr" % (root, shot),
            "matte": "%s/%s/roto/m.####.exr" % (root, shot), "condition": "%s/%s/cond.png" % (root, shot),
            "frames": "1001-1004", "sampler": {"steps": 1},
            "output": {"template": "%s/%s/out/{version}/{shot}_{pass}_{version}.####.exr" % (root, shot)}}


def job_data(**extra):
    data = {"name": "demo", "shots": [{"spec": shot_data("sh010")}, {"spec": shot_data("sh020")}],
            "variants": {"seeds": [7, 8]}}
    data.update(extra)
    return data


@pytest.fixture
def config():
    return config_module.load().config


def test_expansion_is_shots_times_variants_with_stable_ids(config):
    job = job_module.expand_data(job_data(), config)
    assert [(task.shot, task.seed, task.index) for task in job.tasks] == [
        ("sh010", 7, 1), ("sh010", 8, 2), ("sh020", 7, 3), ("sh020", 8, 4)]
    again = job_module.expand_data(job_data(), config)
    assert [task.task_id for task in again.tasks] == [task.task_id for task in job.tasks]
    assert job.job_id == again.job_id
    assert len({task.task_id for task in job.tasks}) == 4
    assert all(task.spec.sampler.variants == 1 for task in job.tasks)
    assert job.tasks_by_index("2-3") == job.tasks[1:3]


def test_conditions_and_spec_seeds_make_variants(config):
    data = job_data(variants={"conditions": ["/shows/ref/a.png", "/shows/ref/b.png"]})
    data["shots"] = [{"spec": dict(shot_data("sh010"), sampler={"steps": 1, "seed": 3, "variants": 2})}]
    job = job_module.expand_data(data, config)
    assert [(task.spec.condition, task.seed) for task in job.tasks] == [
        ("/shows/ref/a.png", 3), ("/shows/ref/a.png", 4), ("/shows/ref/b.png", 3), ("/shows/ref/b.png", 4)]


def test_job_file_errors_name_the_key(config, tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job_data(variants={"seed": [1]})))
    with pytest.raises(FarmError, match=r"job.yaml: variants.seed: unknown key"):
        job_module.load_job_file(str(path), config)
    data = job_data()
    del data["shots"][0]["spec"]["frames"]
    with pytest.raises(FarmError, match="sh010 has no frames"):
        job_module.expand_data(data, config)
    data = job_data()
    data["shots"].append({"spec": shot_data("sh010")})
    with pytest.raises(FarmError, match="sh010 appears twice"):
        job_module.expand_data(data, config)


def test_spec_paths_resolve_against_the_job_file(config, tmp_path):
    (tmp_path / "sh010.yaml").write_text(yaml.safe_dump(dict(shot_data("sh010"), plate="plate/p.%04d.exr")))
    (tmp_path / "job.yaml").write_text(yaml.safe_dump({"name": "demo", "shots": [{"spec": "sh010.yaml"}]}))
    job = job_module.load_job_file(str(tmp_path / "job.yaml"), config)
    assert job.shots[0].spec.plate == str(tmp_path / "plate" / "p.%04d.exr").replace(os.sep, "/")


def test_path_mapping_rules():
    mapper = PathMapper([("/shows", "/mnt/shows"), ("/shows/demo", "/fast/demo"), ("Z:\\Projects", "/mnt/projects")])
    assert mapper.map("/shows/x/a.exr") == "/mnt/shows/x/a.exr"
    assert mapper.map("/shows/demo/a.exr") == "/fast/demo/a.exr"  # the longest source wins
    assert mapper.map("/showsX/a.exr") == "/showsX/a.exr"  # whole components only
    assert mapper.map("z:/projects/sh010/p.####.exr") == "/mnt/projects/sh010/p.####.exr"
    assert mapper.map("Z:\\Projects\\sh010\\c.png") == "/mnt/projects/sh010/c.png"
    assert mapper.map("ocio://default") == "ocio://default"
    assert PathMapper([("/", "/mnt/root")]).map("/a/b") == "/mnt/root/a/b"


def test_job_folder_holds_worker_paths(config, tmp_path):
    job = job_module.expand_data(job_data(), config)
    mapper = PathMapper([("/shows", "/mnt/shows"), (str(tmp_path), "/farm/jobs/demo")])
    worker_dir = job_module.save(job, str(tmp_path), mapper)
    assert worker_dir == "/farm/jobs/demo"
    loaded = job_module.load(str(tmp_path))
    assert [task.task_id for task in loaded.tasks] == [task.task_id for task in job.tasks]
    task = loaded.tasks[0]
    assert task.spec.plate == "/mnt/shows/demo/sh010/plate/p.%04d.exr"
    assert task.spec.output.template.startswith("/mnt/shows/demo/sh010/out/")
    assert loaded.sandbox_roots == ["/farm/jobs/demo", "/mnt/shows/demo/sh010", "/mnt/shows/demo/sh020"]


def test_session_path_mapping_rules_follow_openjd(tmp_path):
    """pathmapping-1.0 rules as a farm session gets them: the longest source first, Windows sources
    matched as OpenJD matches them; a file with no rules (a session without a storage profile) maps nothing."""
    import json

    from actanywhere.farm.path_mapping import SessionRules

    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": "/shows", "destination_path": "/mnt/shows"},
        {"source_path_format": "POSIX", "source_path": "/shows/demo", "destination_path": "/fast/demo"},
        {"source_path_format": "WINDOWS", "source_path": "Z:\\\\shows", "destination_path": "/mnt/z"}]}))
    rules = SessionRules.from_file(str(path))
    assert rules.map("/shows/demo/sh010/p.####.exr") == "/fast/demo/sh010/p.####.exr"
    assert rules.map("/shows/other/p.exr") == "/mnt/shows/other/p.exr"
    assert rules.map("Z:\\\\shows\\\\sh020\\\\p.exr") == "/mnt/z/sh020/p.exr"
    assert rules.map("/showsX/p.exr") == "/showsX/p.exr" and rules.map("ocio://default") == "ocio://default"
    path.write_text("{}")
    assert not SessionRules.from_file(str(path))
    path.write_text(json.dumps({"version": "pathmapping-9", "path_mapping_rules": [{"source_path": "/a"}]}))
    with pytest.raises(Exception, match="not pathmapping-1.0"):
        SessionRules.from_file(str(path))
