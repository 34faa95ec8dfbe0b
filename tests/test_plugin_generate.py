"""Generate: the shot goes to the engine on a background thread, progress and results come back on the
main thread, cancel in the progress bar cancels the job. The slow test runs the panel against a real
engine on 127.0.0.1 with the tiny model."""
import os
import threading
import time

import numpy as np
import pytest

from actanywhere.engine.errors import EngineError, EngineUnavailableError
from actanywhere.engine.media.exr_write import write_exr
from actanywhere.engine.progress import ProgressEvent
from actanywhere.plugin.generate_job import GenerateJob, MainThread
from fake_nuke import make_comp, snapshot


class FakeClient:
    """An EngineClient that runs a job in three events, or until cancelled."""

    def __init__(self, events=3, fail=None):
        self.events, self.fail = events, fail
        self.cancelled = False
        self.threads = set()
        self.submitted = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def submit(self, spec, job_id=None):
        self.threads.add(threading.current_thread().name)
        if self.fail:
            raise self.fail
        self.submitted = spec
        return "sh010-abc"

    def cancel(self, job_id):
        self.cancelled = True
        return {"job_id": job_id, "state": "running"}

    def wait(self, job_id, timeout_s=None, on_event=None):
        if self.cancelled:
            return {"job_id": job_id, "state": "cancelled", "error": {"code": "job_cancelled", "message": "cancelled"}}
        if self.events == 0 and self.events is not None:
            return {"job_id": job_id, "state": "done"}
        if self.events is not None:
            self.events -= 1
            on_event(job_id, ProgressEvent("sample", 3 - self.events, 3, step=3 - self.events, steps=3))
        time.sleep(0.01)
        raise EngineError("still running", "wait_timeout")

    def result(self, job_id):
        return {"job_id": job_id, "results": []}


class QueueMain(MainThread):
    def __init__(self, nuke):
        self.nuke = nuke

    def call(self, function, *args):
        self.nuke.executeInMainThread(function, args)

    def call_and_wait(self, function, *args):
        return self.nuke.executeInMainThreadWithResult(function, args)


def run_until(nuke, thread, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nuke.run_main_queue()
        if not thread.is_alive():
            nuke.run_main_queue()
            return
        time.sleep(0.02)
    raise AssertionError("job thread still running after %gs" % timeout)


def start(nuke, client, calls):
    from actanywhere.plugin.nuke_adapter import NukeProgress

    job = GenerateJob({"shot": "sh010"}, lambda: client, QueueMain(nuke), NukeProgress,
                      on_submitted=lambda job_id: calls.append(("submitted", job_id)),
                      on_done=lambda job_id, record, result: calls.append(("done", record["state"])),
                      on_failed=lambda message: calls.append(("failed", message)), poll_s=0.01)
    return job, job.start()


def test_progress_reaches_the_main_thread_and_the_job_finishes(nuke, adapter):
    calls, client = [], FakeClient()
    job, thread = start(nuke, client, calls)
    run_until(nuke, thread)
    assert calls == [("submitted", "sh010-abc"), ("done", "done")]
    (task,) = nuke.state.progress_tasks
    assert task.history == [33, 66, 100] and task.message.startswith("sample  step 3/3")
    assert client.threads == {thread.name} and thread.name != threading.current_thread().name


def test_cancel_in_the_progress_bar_cancels_the_engine_job(nuke, adapter):
    calls, client = [], FakeClient(events=None)
    job, thread = start(nuke, client, calls)
    while not nuke.state.progress_tasks:
        nuke.run_main_queue()
    nuke.state.progress_tasks[0].cancel()
    run_until(nuke, thread)
    assert client.cancelled
    assert calls[-1][0] == "failed" and "cancelled" in calls[-1][1] and "generate again" in calls[-1][1]


def test_an_unreachable_engine_says_what_to_do(nuke, adapter):
    calls = []
    job, thread = start(nuke, FakeClient(fail=EngineUnavailableError("no reply from the engine at tcp://x:1")), calls)
    run_until(nuke, thread)
    assert calls[0][0] == "failed"
    assert "no reply from the engine" in calls[0][1] and "actanywhere serve" in calls[0][1]


def test_the_panel_reports_a_dead_engine_without_blocking(nuke, adapter, tmp_path):
    plate, roto, node = make_comp(nuke, adapter)
    nuke.state.render_hook = None
    node["export_dir"].setValue(str(tmp_path))
    node["engine_endpoint"].setValue("tcp://127.0.0.1:9")
    from actanywhere.engine.client import EngineClient

    job = adapter.on_generate(node, client_factory=lambda: EngineClient("tcp://127.0.0.1:9", timeout_s=0.2, retries=0),
                              poll_s=0.1)
    run_until(nuke, job.thread, timeout=30)
    assert "no reply from the engine at tcp://127.0.0.1:9" in nuke.state.messages[-1]
    assert "engine knob" in nuke.state.messages[-1]


@pytest.mark.slow
def test_panel_generates_on_a_real_engine_and_collects(nuke, adapter, tmp_path, monkeypatch):
    """Also the proof (issue 21) that the spec is resolved once, by the panel, along panel -> engine ->
    worker: the engine and its worker read it with from_resolved."""
    from engine_support import EngineProcess, make_shot
    from resolution_counter import count_everywhere

    root = str(tmp_path).replace("\\", "/")
    shot = make_shot(os.path.join(root, "shot"))
    calls = count_everywhere(tmp_path, monkeypatch)
    engine = EngineProcess(root, os.path.join(root, "journal"))
    try:
        engine.start()
        nuke.root()["colorManagement"].setValue("OCIO")
        nuke.root()["workingSpaceLUT"].setValue("ACEScg")
        plate, roto, node = make_comp(nuke, adapter, plate_file=shot + "/plate/p.%04d.exr",
                                      script=root + "/comp/sh010_comp.nk")
        plate["colorspace"].setValue("default (ACEScg)")
        before = snapshot([plate, roto])

        def render_matte(write, frame):  # what Nuke would render from the Roto: a box that moves
            matte = np.zeros((36, 64), np.float32)
            matte[8:30, 10 + 6 * (frame - 1001):22 + 6 * (frame - 1001)] = 1.0
            path = write["file"].value() % frame
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_exr(path, matte, ("A",))

        nuke.state.render_hook = render_matte
        node["condition_file"].setValue(shot + "/cond.png")
        node["export_dir"].setValue("[file dirname [file dirname [value root.name]]]/export")
        node["engine_endpoint"].setValue(engine.endpoint)
        node["shot"].setValue("sh010")
        node["steps"].setValue(1)
        node["guidance"].setValue(1.0)
        node["variants"].setValue(2)
        node["seed"].setValue(5)

        job = adapter.on_generate(node, client_factory=lambda: engine.client(timeout_s=10.0), poll_s=0.2)
        assert job is not None, nuke.state.messages
        run_until(nuke, job.thread, timeout=180)
        assert nuke.state.messages == [], nuke.state.messages + [engine.log()]
        assert node["last_job_id"].value() == job.job_id
        assert job.spec_data["matte"] == root + "/export/sh010/matte/sh010_matte.%04d.exr"
        assert job.spec_data["plate"] == shot + "/plate/p.%04d.exr"
        assert job.spec_data["colour"]["plate_colourspace"] == "ACEScg"

        reads = {read.name(): read for read in nuke.allNodes("Read") if read is not plate}
        assert sorted(reads) == ["AA_sh010_v001_bg", "AA_sh010_v002_bg"]
        for name, seed in (("AA_sh010_v001_bg", 5), ("AA_sh010_v002_bg", 6)):
            read = reads[name]
            assert (read["first"].value(), read["last"].value()) == (1001, 1004)
            assert read["label"].value().endswith("seed %d" % seed)
            for frame in range(1001, 1005):
                assert os.path.isfile(read["file"].value() % frame)
        assert len([m for m in nuke.allNodes("Merge2")]) == 2
        assert nuke.state.progress_tasks and nuke.state.progress_tasks[0].history[-1] == 100
        assert snapshot([plate, roto]) == before
        counted = calls()
        assert counted["resolve"] == 1, counted  # the panel's
        assert counted["from_resolved"] >= 2 and counted["processes"] >= 3, counted  # engine and worker read it
    finally:
        engine.stop()


def test_sampler_knobs_left_at_zero_leave_the_choice_to_the_config():
    import dataclasses

    from actanywhere.engine.sequence import FrameRange
    from actanywhere.plugin.export import ExportResult
    from actanywhere.plugin.node_knobs import NodeSettings
    from actanywhere.plugin.shot_from_node import spec_data

    exported = ExportResult("p.%04d.exr", "m.%04d.exr", "A", "c.exr", None, FrameRange.parse("1-4"), "ACEScg", {})
    untouched = spec_data(NodeSettings(), exported, "out.####.exr")["sampler"]
    assert "steps" not in untouched and "guidance" not in untouched and untouched["seed"] == 0
    chosen = spec_data(dataclasses.replace(NodeSettings(), steps=30, guidance=2.5), exported, "out.####.exr")
    assert (chosen["sampler"]["steps"], chosen["sampler"]["guidance"]) == (30, 2.5)


def test_the_camera_knobs_reach_the_spec():
    import dataclasses

    from actanywhere.engine.sequence import FrameRange
    from actanywhere.plugin.export import ExportResult
    from actanywhere.plugin.node_knobs import NodeSettings
    from actanywhere.plugin.shot_from_node import spec_data

    exported = ExportResult("p.%04d.exr", "m.%04d.exr", "A", "c.exr", None, FrameRange.parse("1001-1010"), "ACEScg", {})
    data = spec_data(dataclasses.replace(NodeSettings(), condition_frame=1004, camera_track="static"), exported, "o.####.exr")
    assert data["condition_frame"] == 1004 and data["camera"] == {"track": "static"}
    # The knob's default (1001) on a shot that starts elsewhere: the shot's first frame, not an error.
    outside = dataclasses.replace(exported, frames=FrameRange.parse("1-10"))
    assert "condition_frame" not in spec_data(NodeSettings(), outside, "o.####.exr")


@pytest.mark.parametrize("template, problem", [
    ("/shows/x/{shot}_{pass}_{version}.####.exr", "{version} must name a folder"),
    ("/shows/x/{version}/{shot}_bg.exr", "no frame token"),
    ("/shows/x/{version}/{0}_{pass}.####.exr", "{0} is not a token"),
])
def test_a_bad_output_template_knob_is_refused_before_anything_is_sent(template, problem):
    import dataclasses

    from actanywhere.engine import config
    from actanywhere.engine.errors import ShotSpecError
    from actanywhere.engine.sequence import FrameRange
    from actanywhere.plugin.export import ExportResult
    from actanywhere.plugin.node_knobs import NodeSettings
    from actanywhere.plugin.shot_from_node import build_spec

    exported = ExportResult("/e/p.%04d.exr", "/e/m.%04d.exr", "A", "/e/c.exr", None, FrameRange.parse("1-4"), "ACEScg", {})
    settings = dataclasses.replace(NodeSettings(), node_name="ActAnywhere1", output_template=template)
    with pytest.raises(ShotSpecError) as raised:
        build_spec(settings, exported, config.load(environ={}), "/e")
    assert "ActAnywhere node ActAnywhere1" in str(raised.value) and "output.template" in str(raised.value)
    assert problem in str(raised.value) and "for example" in str(raised.value)
