"""The engine under failure, over real sockets with the tiny model: a worker killed mid-job, the engine
killed and restarted with jobs queued, SIGTERM, and 20 clients x 5 jobs at once."""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from actanywhere.engine import protocol
from engine_support import EngineProcess, make_shot, published_frames, spec_data

pytestmark = pytest.mark.slow  # every test starts an engine process


def wait_for_sample_event(client, job_id, timeout_s=60):
    """Until the job reports a denoising step (so it is mid-job, inside the model)."""
    seen = []
    client.on_event = lambda job, event: seen.append(event) if job == job_id else None
    deadline = time.monotonic() + timeout_s
    while not any(event.stage == "sample" for event in seen):
        assert time.monotonic() < deadline, "the job never started sampling"
        client.status(job_id, watch=True)
        client._receive_events(0.1)
    client.on_event = None


def test_worker_killed_mid_job_fails_only_that_job(tmp_path):
    make_shot(tmp_path / "shot")
    shot_dir = str(tmp_path / "shot")
    engine = EngineProcess(tmp_path, tmp_path / "journal")
    try:
        engine.start()
        with engine.client() as client:
            first_pid = engine.worker_pid()
            victim = client.submit(spec_data(shot_dir, out="killed", steps=200), watch=True)
            wait_for_sample_event(client, victim)
            os.kill(first_pid, signal.SIGKILL)
            record = client.wait(victim, timeout_s=60)
            assert record["state"] == "failed"
            assert record["error"]["code"] == protocol.WORKER_DIED
            assert "SIGKILL" in record["error"]["message"] and "resubmit" in record["error"]["message"]
            assert published_frames(os.path.join(shot_dir, "killed")) == []  # only hidden temporaries, if any
            # The engine kept serving and restarted the worker; the next job runs on the new one.
            after = client.submit(spec_data(shot_dir, out="after_kill"))
            assert client.wait(after, timeout_s=120)["state"] == "done"
            assert engine.worker_pid() != first_pid
            assert len(published_frames(os.path.join(shot_dir, "after_kill"))) == 8
    finally:
        assert engine.stop() == 0, engine.log()


def test_engine_killed_and_restarted_keeps_its_jobs(tmp_path):
    make_shot(tmp_path / "shot")
    shot_dir = str(tmp_path / "shot")
    engine = EngineProcess(tmp_path, tmp_path / "journal")
    try:
        engine.start()
        with engine.client(retries=30, timeout_s=2.0) as client:
            done_before = client.submit(spec_data(shot_dir, shot="before", out="before"))
            assert client.wait(done_before, timeout_s=60)["state"] == "done"
            interrupted = client.submit(spec_data(shot_dir, shot="interrupted", out="interrupted", steps=20), watch=True)
            queued = [client.submit(spec_data(shot_dir, shot="queued%d" % index, out="queued%d" % index))
                      for index in range(3)]
            wait_for_sample_event(client, interrupted)
            worker_pid = engine.worker_pid()
            engine.kill(signal.SIGKILL)
            engine.process.wait(10)
            deadline = time.monotonic() + 10
            while _alive(worker_pid):  # the worker dies with its server, so it cannot publish
                assert time.monotonic() < deadline, "the worker outlived its server"
                time.sleep(0.05)

            engine.start(wait_ready=False)  # same port and journal; the same client reconnects
            assert client.status(done_before)["state"] == "done"
            assert client.result(done_before)["results"][0]["version_name"] == "v001"
            for job_id in queued + [interrupted]:
                record = client.wait(job_id, timeout_s=120)
                assert record["state"] == "done", record
            assert client.status(interrupted)["attempts"] == 2
        for index in range(3):
            assert len(published_frames(os.path.join(shot_dir, "queued%d" % index))) == 8
        # The interrupted run published nothing; its rerun published exactly one version.
        assert len(published_frames(os.path.join(shot_dir, "interrupted"))) == 8
    finally:
        assert engine.stop() == 0, engine.log()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as stream:  # a zombie is dead too
        return stream.read().split()[2] != "Z"


def test_sigterm_stops_taking_jobs_and_requeues_what_it_cannot_finish(tmp_path):
    make_shot(tmp_path / "shot")
    shot_dir = str(tmp_path / "shot")
    engine = EngineProcess(tmp_path, tmp_path / "journal", extra=["--drain", "0.5"])
    try:
        engine.start()
        with engine.client() as client:
            long_job = client.submit(spec_data(shot_dir, out="long", steps=400), watch=True)
            wait_for_sample_event(client, long_job)
            engine.kill(signal.SIGTERM)
            assert engine.process.wait(30) == 0, engine.log()
        assert published_frames(os.path.join(shot_dir, "long")) == []
        engine.start()  # the cancelled job went back to the queue and runs now
        with engine.client() as client:
            record = client.status(long_job)
            assert record["state"] in ("queued", "running"), record
            client.cancel(long_job)
            assert client.wait(long_job, timeout_s=60)["state"] == "cancelled"
    finally:
        assert engine.stop() == 0, engine.log()


@pytest.mark.slow
def test_twenty_clients_five_jobs_each_complete_exactly_once(tmp_path):
    make_shot(tmp_path / "shot", frames=(1001,))
    shot_dir = str(tmp_path / "shot")
    engine = EngineProcess(tmp_path, tmp_path / "journal", extra=["--device", "cpu"])  # two workers
    outcomes, errors = {}, []

    def one_client(index):
        try:
            with engine.client(timeout_s=10.0, retries=3) as client:
                submitted = []
                for job in range(5):
                    job_id = "c%02d-j%d" % (index, job)
                    data = spec_data(shot_dir, shot="c%02d" % index, frames="1001", comp=False,
                                     out="out/c%02d" % index)  # versions are numbered per version folder
                    submitted.append(client.submit(data, job_id=job_id))
                    assert client.request("submit", spec=data, job_id=job_id)["duplicate"] is True
                for job_id in submitted:
                    record = client.wait(job_id, timeout_s=400)
                    outcomes[job_id] = (record["state"], client.result(job_id)["results"])
        except Exception as error:  # reported below, with the thread's name
            errors.append("client %d: %r" % (index, error))

    try:
        engine.start()
        threads = [threading.Thread(target=one_client, args=(index,)) for index in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(450)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        assert len(outcomes) == 100 and all(state == "done" for state, _ in outcomes.values())
        with engine.client() as client:
            records = client.jobs()
            assert len(records) == 100 and all(record["attempts"] == 1 for record in records)
    finally:
        assert engine.stop() == 0, engine.log()
    # Every job published exactly one version of its one frame; no two jobs share one.
    frames = published_frames(os.path.join(shot_dir, "out"))
    assert len(frames) == 100
    for index in range(20):
        versions = sorted(result[0]["version_name"] for job_id, (_, result) in outcomes.items()
                          if job_id.startswith("c%02d-" % index))
        assert versions == ["v001", "v002", "v003", "v004", "v005"]
        assert sorted(name for name in frames if name.startswith("c%02d_" % index)) == [
            "c%02d_bg_%s.1001.exr" % (index, version) for version in versions]


def _descriptor_limit_1024():
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def test_idle_connections_past_the_descriptor_limit_do_not_crash_the_engine(tmp_path):
    """2,000 or more TCP connections that never speak, at a limit of 1,024 descriptors: every descriptor is
    taken, and the engine still journals a submit (its spare journal files), answers and runs the job."""
    import socket as sockets

    make_shot(tmp_path / "shot")
    engine = EngineProcess(tmp_path, tmp_path / "journal")
    flood = []
    try:
        engine.start(preexec_fn=_descriptor_limit_1024)
        with engine.client(timeout_s=10.0) as client:
            client.hello()  # connected before the flood
            errors = {}

            def connect(count):
                for _ in range(count):
                    connection = sockets.socket()
                    connection.setblocking(False)
                    code = connection.connect_ex(("127.0.0.1", engine.port))
                    errors[code] = errors.get(code, 0) + 1
                    flood.append(connection)

            connect(2000)
            descriptors = "/proc/%d/fd" % engine.process.pid
            # The engine closes a connection that has not spoken within HANDSHAKE_IVL (10 s), and the kernel
            # hands the rest over at its own pace (a listen backlog of 100, SYNs retried with back-off): on a
            # busy machine the first ones are gone before the last arrive, so the flood is topped up until
            # every descriptor is taken.
            wait_for_descriptors = time.monotonic() + 60
            while len(os.listdir(descriptors)) < 1024 and time.monotonic() < wait_for_descriptors:
                time.sleep(0.2)
                if len(flood) < 8000:
                    connect(100)
            taken = len(os.listdir(descriptors))
            assert taken == 1024, "the engine accepted only %d descriptors in 60 s; connect results %s; sockets:\n%s" % (
                taken, errors, subprocess.run(["ss", "-tan"], stdout=subprocess.PIPE, text=True).stdout[:3000])
            job_id = client.submit(spec_data(str(tmp_path / "shot")), job_id="during-the-flood")
            assert os.path.exists(str(tmp_path / "journal" / "during-the-flood.json"))
            assert client.status(job_id)["state"] in ("queued", "running")
            record = client.wait(job_id, timeout_s=120)
            assert record["state"] == "done", record
        assert engine.process.poll() is None, engine.log()
    finally:
        for connection in flood:
            connection.close()
        assert engine.stop() == 0, engine.log()


@pytest.mark.slow
def test_a_job_requeued_after_its_worker_published_returns_that_version(tmp_path):
    """The engine died after its worker published but before its journal said so (issue 15: SIGSTOP
    during the publish, then SIGKILL): at restart the job runs again and returns the version its id
    published, instead of publishing a second one."""
    make_shot(tmp_path / "shot")
    shot_dir = str(tmp_path / "shot")
    engine = EngineProcess(tmp_path, tmp_path / "journal")
    try:
        engine.start()
        with engine.client() as client:
            job_id = client.submit(spec_data(shot_dir, out="once"), job_id="once-1")
            assert client.wait(job_id, timeout_s=60)["state"] == "done"
        assert engine.stop() == 0, engine.log()
        path = os.path.join(str(tmp_path / "journal"), job_id + ".json")
        with open(path) as stream:
            record = json.load(stream)
        record.update(state="running", results=None, finished=None)  # what the journal held when it died
        with open(path, "w") as stream:
            json.dump(record, stream)
        engine.start()
        with engine.client() as client:
            final = client.wait(job_id, timeout_s=60)
            assert final["state"] == "done" and final["attempts"] == 2, final
            (result,) = client.result(job_id)["results"]
        assert result["version_name"] == "v001" and result["job_id"] == job_id
        assert sorted(os.listdir(os.path.join(shot_dir, "once"))) == ["v001"]
        assert "already published by once-1 as v001" in engine.log()
    finally:
        assert engine.stop() == 0, engine.log()
