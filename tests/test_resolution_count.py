"""A shot spec is resolved once per request, where the request is written (issue 21): the panel, the
CLI, farm submit. Every later hop (the engine's submit, its worker, the farm job folder and its tasks)
reads the resolved spec with `from_resolved`, filling nothing from its own config.

The slow halves of this proof sit in the end-to-end tests that already run those paths:
test_plugin_generate (panel -> engine -> worker) and test_farm_run (farm submit -> tasks)."""
import subprocess

import pytest

from actanywhere.engine import config as config_module, shotspec
from actanywhere.engine.errors import ShotSpecError
from actanywhere.farm import job as job_module
from fake_nuke import make_comp
from resolution_counter import count_everywhere

class FakeProcess:
    pid = 4242


BASE = {"shot": "sh010", "plate": "/s/p.%04d.exr", "matte": "/s/m.####.exr", "condition": "/s/c.png",
        "frames": "1001-1004"}


def test_the_panels_farm_submit_resolves_once_and_the_job_folder_is_read_without_a_config(
        nuke, adapter, tmp_path, monkeypatch):
    studio = tmp_path / "studio.yaml"
    studio.write_text("farm:\n  backend: local\n  jobs_dir: %s\n" % (tmp_path / "jobs"))
    monkeypatch.setenv("ACTANYWHERE_CONFIG", str(studio))
    started = []  # the detached local run is not started: the job folder is what this test reads
    monkeypatch.setattr(subprocess, "Popen", lambda command, **kwargs: started.append(command) or FakeProcess())
    plate, roto, node = make_comp(nuke, adapter, script=str(tmp_path / "comp" / "sh010_comp_v001.nk"))
    node["steps"].setValue(3)
    calls = count_everywhere(tmp_path, monkeypatch)

    assert adapter.on_submit_farm(node), nuke.state.messages
    assert calls()["resolve"] == 1  # the panel's; farm submit reads it with from_resolved
    assert calls()["from_resolved"] >= 2  # submit_shot's check, the job folder's specs as written

    assert started and started[0][1:3] == ["farm", "run"]
    [job_dir] = list((tmp_path / "jobs").iterdir())
    job = job_module.load(str(job_dir))  # what a worker does: no config at all
    assert calls()["resolve"] == 1
    assert [task.spec.sampler.steps for task in job.tasks] == [3]
    assert job.tasks[0].spec.model == "tiny" and job.tasks[0].spec.sampler.variants == 1


def test_a_farm_job_file_resolves_each_shot_once_and_derives_variants_without_resolving(tmp_path, monkeypatch):
    calls = count_everywhere(tmp_path, monkeypatch)
    config = config_module.load(environ={}).config
    data = {"name": "two", "variants": {"seeds": [1, 2, 3]},
            "shots": [{"spec": dict(BASE, shot="sh010")}, {"spec": dict(BASE, shot="sh020")}]}
    job = job_module.expand_data(data, config)
    assert calls()["resolve"] == 2 and len(job.tasks) == 6
    assert [task.spec.sampler.seed for task in job.tasks] == [1, 2, 3, 1, 2, 3]
    assert {task.spec.sampler.variants for task in job.tasks} == {1}


def test_a_hop_that_gets_an_unresolved_spec_refuses_it_by_name():
    with pytest.raises(ShotSpecError, match=r"job j1: not a resolved spec, sampler, tiling, camera, colour, "
                                            r"output, model are missing; resolve it where the request is written"):
        shotspec.from_resolved(BASE, source="job j1")
    data = shotspec.resolve(BASE, config_module.load(environ={}).config).to_data()
    del data["sampler"]["guidance"]
    with pytest.raises(ShotSpecError, match=r"sampler.guidance is missing"):
        shotspec.from_resolved(data)
    data["sampler"]["guidance"] = 2.0
    assert shotspec.from_resolved(data).sampler.guidance == 2.0


def test_a_resolved_spec_reads_back_equal_without_the_config_that_resolved_it(tmp_path):
    studio = tmp_path / "studio.yaml"
    studio.write_text("sampler:\n  steps: 13\ntiling:\n  tile_size: 512\n")
    spec = shotspec.resolve(BASE, config_module.load([str(studio)], environ={}).config)
    again = shotspec.from_resolved(spec.to_data())
    assert again == spec and (again.sampler.steps, again.tiling.tile_size) == (13, 512)
    derived = shotspec.derive(spec, seed=99, variants=1)
    assert derived.sampler.seed == 99 and derived.sampler.steps == 13 and spec.sampler.seed != 99
