"""The engine over real sockets on 127.0.0.1 with the tiny model: round trip with progress, the CLI,
cancel, idempotent submits, malformed messages and path traversal. One engine serves the module."""
import json
import os
import time

import pytest
import zmq

from actanywhere.engine import protocol
from actanywhere.engine.cli import main
from actanywhere.engine.errors import EngineError
from engine_support import EngineProcess, make_shot, published_frames, spec_data

FINAL = ("done", "failed", "cancelled")
pytestmark = pytest.mark.slow  # every test talks to the module's engine process


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine_service")
    make_shot(root / "shot")
    process = EngineProcess(root, root / "journal")
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture
def shot_dir(engine):
    return os.path.join(engine.root, "shot")


@pytest.fixture
def client(engine):
    with engine.client() as client:
        yield client


def test_round_trip_with_progress(engine, client, shot_dir):
    info = client.hello()
    assert info["protocol"] == protocol.PROTOCOL_VERSION and info["engine_version"]
    assert info["devices"][0]["device"] == "cpu" and "tiny" in info["devices"][0]["profiles"]
    assert info["profiles"]["tiny"]["loaded_on"] == ["cpu"]
    assert info["parameters"]["sampler"]["steps"] == {"minimum": 0, "maximum": 1000, "default": 0}
    assert info["limits"]["max_message_bytes"] == protocol.MAX_MESSAGE_BYTES

    events = []
    job_id = client.submit(spec_data(shot_dir, out="round_trip", steps=2))
    record = client.wait(job_id, timeout_s=60, on_event=lambda job, event: events.append((job, event)))
    assert record["state"] == "done", record
    stages = [event.stage for _, event in events]
    assert {"read", "sample", "write"} <= set(stages) and all(job == job_id for job, _ in events)
    sample = [event for _, event in events if event.stage == "sample"]
    assert sample[-1].step == 2 and sample[-1].steps == 2
    assert [event.frame for _, event in events if event.stage == "write"][-1] == 1004

    result = client.result(job_id)
    assert result["metadata"]["model"] == "tiny" and result["metadata"]["spec_hash"]
    (variant,) = result["results"]
    assert variant["version_name"] == "v001"
    assert published_frames(os.path.join(shot_dir, "round_trip")) == sorted(
        "sh010_%s_v001.%d.exr" % (pass_name, frame) for pass_name in ("bg", "comp") for frame in range(1001, 1005))
    for path in variant["otio_paths"].values():
        assert os.path.isfile(path)
    assert client.status(job_id)["state"] == "done"
    assert job_id in [job["job_id"] for job in client.jobs()]
    with open(os.path.join(engine.journal, job_id + ".json")) as stream:
        assert json.load(stream)["state"] == "done"


def test_same_job_id_twice_runs_once(client, shot_dir):
    data = spec_data(shot_dir, out="twice")
    first = client.submit(data, job_id="twice-1")
    again = client.request("submit", spec=data, job_id="twice-1")
    assert first == "twice-1" and again["duplicate"] is True
    assert client.wait("twice-1", timeout_s=60)["state"] == "done"
    assert client.request("submit", spec=data, job_id="twice-1")["duplicate"] is True
    assert len(published_frames(os.path.join(shot_dir, "twice"))) == 8  # one version only
    (result,) = client.result("twice-1")["results"]
    assert result["job_id"] == "twice-1" and result["folder"].endswith("/twice/v001")  # the version's record
    # the same id with another spec is another job: refused, not merged into the first
    with pytest.raises(EngineError) as raised:
        client.submit(dict(data, frames="1001-1002"), job_id="twice-1")
    assert raised.value.code == protocol.JOB_ID_CONFLICT and "twice-1" in str(raised.value)


def test_a_bad_output_template_is_refused_at_submit(client, shot_dir):
    data = spec_data(shot_dir)
    data["output"]["template"] = os.path.join(shot_dir, "bad", "{version}", "x_bg.exr")  # no frame token
    with pytest.raises(EngineError) as raised:
        client.submit(data)
    assert raised.value.code == protocol.BAD_SPEC and "output.template" in str(raised.value)
    assert "no frame token" in str(raised.value) and not os.path.exists(os.path.join(shot_dir, "bad"))


def test_cancel_queued_and_running_jobs_leave_no_frames(client, shot_dir):
    events = []
    running = client.submit(spec_data(shot_dir, out="cancel_running", steps=200), watch=True)
    queued = client.submit(spec_data(shot_dir, out="cancel_queued", steps=1))
    assert client.status(queued)["state"] == "queued"
    assert client.cancel(queued)["state"] == "cancelled"
    deadline = time.monotonic() + 60
    client.on_event = lambda job, event: events.append(event)
    while not any(event.stage == "sample" for event in events):  # the running job is mid-sampling
        assert time.monotonic() < deadline
        client.status(running, watch=True)
        client._receive_events(0.2)
    client.cancel(running)
    record = client.wait(running, timeout_s=60)
    assert record["state"] == "cancelled" and record["error"]["code"] == protocol.JOB_CANCELLED
    assert published_frames(os.path.join(shot_dir, "cancel_running")) == []
    assert published_frames(os.path.join(shot_dir, "cancel_queued")) == []
    with pytest.raises(EngineError) as error:
        client.result(running)
    assert error.value.code == protocol.JOB_CANCELLED
    # The worker is free again.
    after = client.submit(spec_data(shot_dir, out="after_cancel"))
    assert client.wait(after, timeout_s=60)["state"] == "done"


def test_a_client_that_disconnects_does_not_cancel_its_job(engine, shot_dir):
    with engine.client() as first:
        job_id = first.submit(spec_data(shot_dir, out="disconnect", steps=3), watch=True)
    with engine.client() as second:
        assert second.wait(job_id, timeout_s=60)["state"] == "done"
    assert len(published_frames(os.path.join(shot_dir, "disconnect"))) == 8


def test_cli_submit_status_jobs_cancel(engine, shot_dir, tmp_path, capsys):
    spec_path = tmp_path / "sh020.json"
    spec_path.write_text(json.dumps(spec_data(shot_dir, shot="sh020", out="cli")))
    common = ["--engine", engine.endpoint, "--set", "engine.request_timeout_s=5", "--set", "engine.heartbeat_s=0.5"]
    assert main(["submit", str(spec_path), "--job-id", "cli-1", "--wait", "--quiet"] + common) == 0
    out = capsys.readouterr().out
    assert "cli-1  sh020  done" in out and "v001 seed 0 bg: " in out
    assert main(["status", "cli-1", "--json"] + common) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "done"
    assert main(["jobs", "--state", "done"] + common) == 0
    assert "cli-1  sh020  done" in capsys.readouterr().out
    assert main(["submit", str(spec_path), "--job-id", "cli-2"] + common) == 0
    assert capsys.readouterr().out.strip() == "cli-2"
    assert main(["cancel", "cli-2"] + common) == 0
    capsys.readouterr()
    assert main(["status", "no-such-job"] + common) == 2
    assert "no job no-such-job" in capsys.readouterr().err


# -- malformed messages -------------------------------------------------------------------------------
@pytest.fixture
def raw(engine):
    """A bare DEALER socket, to send what no client would."""
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(engine.endpoint)
    yield socket
    socket.close(linger=0)
    context.term()


def reply_to(socket, *frames, timeout_ms=5000):
    socket.send_multipart(list(frames))
    assert socket.poll(timeout_ms), "no reply"
    return json.loads(socket.recv_multipart()[-1])


@pytest.mark.parametrize("frames, code, words", [
    ([os.urandom(300)], protocol.BAD_MESSAGE, "not UTF-8 JSON"),
    ([b"[1, 2, 3]"], protocol.BAD_MESSAGE, "not an object"),
    ([b'{"v": 99, "kind": "hello", "id": "a"}'], protocol.UNSUPPORTED_VERSION, "version 99"),
    ([b'{"kind": "hello", "id": "a"}'], protocol.UNSUPPORTED_VERSION, "version None"),
    ([b'{"v": 1, "kind": "exec", "id": "a"}'], protocol.BAD_REQUEST, "unknown message kind"),
    ([b'{"v": 1, "kind": "status", "id": "a"}'], protocol.BAD_REQUEST, "'job_id' is missing"),
    ([b'{"v": 1, "kind": "submit", "id": "a", "job_id": "x1"}'], protocol.BAD_REQUEST, "'spec' is missing"),
    ([b'{"v": 1, "kind": "submit", "id": "a", "job_id": "../../etc", "spec": {}}'], protocol.BAD_REQUEST, "job_id"),
    ([b'{"v": 1, "kind": "submit", "id": "a", "job_id": "x2", "spec": {"shot": "s"}}'], protocol.BAD_SPEC,
     "not a resolved spec"),
    ([b'{"v": 1, "kind": "hello"}', b"second frame"], protocol.BAD_MESSAGE, "2 frames"),
    ([b'{"v": 1, "kind": "hello", "id": "a", "x": ' + b'"' + b"y" * 300000 + b'"}'], protocol.TOO_LARGE, "over the limit"),
    ([b'{"v": 1, "kind": "ping", "id": "a", "x": NaN}'], protocol.BAD_MESSAGE, "JSON"),
])
def test_malformed_messages_get_an_error_and_the_engine_keeps_serving(raw, client, frames, code, words):
    reply = reply_to(raw, *frames)
    assert reply["kind"] == "error" and reply["code"] == code and words in reply["message"], reply
    assert client.ping() < 5


def test_oversized_frame_drops_only_that_connection(engine, raw, client):
    raw.send(b"x" * (protocol.TRANSPORT_MAX_BYTES + 1024))  # over ZMQ_MAXMSGSIZE: never read
    assert not raw.poll(1000)
    assert client.hello()["accepting"] is True
    jobs_before = len(client.jobs())
    with engine.client() as other:
        assert len(other.jobs()) == jobs_before


def test_unknown_spec_key_and_bad_values_are_refused(client, shot_dir):
    def spoil(change):  # a resolved spec, then changed as a bad or hostile client would
        data = spec_data(shot_dir)
        change(data)
        return data

    for bad, words in [(spoil(lambda data: data.update(python="import os")), "unknown key"),
                       (spoil(lambda data: data["sampler"].update(steps=-1)), "below the minimum"),
                       (spoil(lambda data: data.update(model="nope")), "not configured")]:
        with pytest.raises(EngineError) as error:
            client.submit(bad)
        assert error.value.code == protocol.BAD_SPEC and words in str(error.value)


# -- path traversal -----------------------------------------------------------------------------------
def test_paths_outside_the_sandbox_are_refused_before_queuing(engine, client, shot_dir, tmp_path):
    outside = tmp_path / "outside"
    make_shot(outside, frames=(1001, 1002, 1003, 1004))
    link = os.path.join(shot_dir, "link_out")
    if not os.path.islink(link):
        os.symlink(str(outside), link)
    jobs_before = len(client.jobs())
    attempts = {
        "plate": os.path.join(shot_dir, "..", "..", "outside", "plate", "p.%04d.exr"),
        "matte": str(outside / "roto" / "m.####.exr"),
        "condition": "/etc/passwd",
        "output": os.path.join(link, "{version}", "{shot}_{pass}_{version}.####.exr"),
        "relative": "plate/p.%04d.exr",
        "symlinked plate": os.path.join(link, "plate", "p.%04d.exr"),
    }
    for name, path in attempts.items():
        data = spec_data(shot_dir, out="traversal")
        key = {"output": None, "relative": "plate", "symlinked plate": "plate"}.get(name, name)
        if key is None:
            data["output"]["template"] = path
        else:
            data[key] = path
        with pytest.raises(EngineError) as error:
            client.submit(data)
        message = str(error.value)
        assert error.value.code == protocol.PATH_REFUSED, (name, message)
        assert ("outside the engine's sandbox" in message or "'..'" in message or "not an absolute path" in message), message
        assert "\n" not in message
    assert len(client.jobs()) == jobs_before  # nothing was queued
    assert published_frames(str(outside)) == sorted(os.listdir(str(outside / "plate")) + os.listdir(str(outside / "roto")))
    assert published_frames(os.path.join(shot_dir, "traversal")) == []
