"""The engine under faults and hostile clients, on real loopback sockets with scripted workers
(engine_support.InProcessEngine): nothing crashes it, nothing blocks it, jobs belong to their owners."""
import json
import os
import shutil
import signal
import time

import pytest
import zmq

from actanywhere.engine import protocol
from actanywhere.engine.errors import EngineError, EngineUnavailableError
from actanywhere.engine.service.clients import local_user
from engine_support import InProcessEngine, make_shot, spec_data

pytestmark = pytest.mark.slow  # every test starts an engine (in-process, scripted workers: seconds)


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory):
    return make_shot(tmp_path_factory.mktemp("faults") / "shot")


def wait_for(condition, seconds=10.0, what="condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def raw_request(endpoint, payload, timeout_s=5.0):
    """One request as raw bytes from a bare DEALER; the decoded reply."""
    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    try:
        socket.send(payload)
        assert socket.poll(timeout_s * 1000), "no reply to %r" % payload[:80]
        return json.loads(socket.recv())
    finally:
        socket.close()


def request_bytes(kind, **fields):
    data = {"v": protocol.PROTOCOL_VERSION, "kind": kind, "id": "r1", "user": local_user()}
    data.update(fields)
    return json.dumps(data).encode("utf-8")


# -- validation at the door -----------------------------------------------------------------------
def test_type_confusions_and_deep_nesting_are_bad_requests_not_internal_errors(tmp_path, shot_dir):
    with InProcessEngine(shot_dir) as engine:
        cases = [
            (b'{"v": 1, "kind": ["submit"], "id": "r1"}', protocol.BAD_REQUEST, "'kind' must be a string"),
            (b'{"v": 1, "kind": "ping", "id": "r1", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}",
             protocol.TOO_LARGE, "nested deeper"),
            (request_bytes("submit", job_id="j1", spec=dict(spec_data(shot_dir), plate="/x/\ud800.exr")),
             protocol.BAD_REQUEST, "lone surrogate"),
            (request_bytes("status", job_id="j1", watch="yes"), protocol.BAD_REQUEST, "'watch' must be true or false"),
            (request_bytes("jobs", limit=10 ** 6), protocol.BAD_REQUEST, "limit"),
        ]
        for payload, code, words in cases:
            reply = raw_request(engine.endpoint, payload)
            assert reply["kind"] == "error" and reply["code"] == code and words in reply["message"], reply
        assert engine.alive() and not any("internal error" in line for line in engine.lines)


def test_a_number_past_any_bound_or_a_huge_range_is_refused_at_once(shot_dir):
    with InProcessEngine(shot_dir) as engine, engine.client() as client:
        spec = spec_data(shot_dir)
        spec["output"]["fps"] = float("inf")  # what JSON's 1e999 parses to
        reply = raw_request(engine.endpoint, request_bytes("submit", job_id="inf", spec=spec).replace(
            b"Infinity", b"1e999"))
        assert reply["code"] == protocol.BAD_SPEC and "finite" in reply["message"], reply
        started = time.monotonic()
        with pytest.raises(EngineError) as error:
            client.submit(dict(spec_data(shot_dir), frames="1-300000"), job_id="huge")  # as a bad client sends it
        assert error.value.code == protocol.BAD_SPEC and "more than 100000 frames" in str(error.value)
        job_id = client.submit(spec_data(shot_dir, frames="1-90000", steps=1), job_id="long-but-legal")
        assert time.monotonic() - started < 3.0  # the sandbox no longer walks every frame of the range
        with pytest.raises(EngineError) as error:
            client.submit(dict(spec_data(shot_dir), shot="s" * 4000), job_id="longname")
        assert error.value.code == protocol.BAD_SPEC and "limit of 128" in str(error.value)
        assert {job["job_id"] for job in client.jobs()} == {job_id}


# -- I/O failures are contained ---------------------------------------------------------------------
def test_a_journal_that_cannot_be_written_refuses_the_submit_and_the_engine_keeps_serving(tmp_path, shot_dir):
    journal = tmp_path / "journal"
    with InProcessEngine(shot_dir, journal=journal) as engine, engine.client() as client:
        shutil.rmtree(str(journal))
        journal.write_text("not a folder")  # every write in it now fails (even for root)
        with pytest.raises(EngineError) as error:
            client.submit(spec_data(shot_dir), job_id="lost")
        assert error.value.code == protocol.JOURNAL_FAILED and "nothing was changed" in str(error.value)
        assert client.jobs() == []  # no phantom job, queued forever
        assert client.ping() < 1.0
        journal.unlink()
        journal.mkdir()
        job_id = client.submit(spec_data(shot_dir, steps=2), job_id="kept")
        assert client.wait(job_id, timeout_s=20)["state"] == "done"
        assert json.loads((journal / "kept.json").read_text())["state"] == "done"
        assert engine.alive()


def test_a_journal_failure_at_dispatch_leaves_the_job_queued_until_the_journal_returns(tmp_path, shot_dir):
    journal = tmp_path / "journal"
    with InProcessEngine(shot_dir, journal=journal) as engine, engine.client() as client:
        running = client.submit(spec_data(shot_dir, steps=10), job_id="first")
        wait_for(lambda: client.status(running)["state"] == "running", what="first job running")
        waiting = client.submit(spec_data(shot_dir, steps=1), job_id="second")
        shutil.rmtree(str(journal))
        journal.write_text("not a folder")
        # the first job finishes while its record cannot be written; the second cannot be dispatched
        wait_for(lambda: client.status(running)["state"] == "done", what="first job done")
        time.sleep(0.5)
        assert client.status(waiting)["state"] == "queued"
        journal.unlink()
        journal.mkdir()
        assert client.wait(waiting, timeout_s=20)["state"] == "done"
        wait_for(lambda: (journal / "first.json").exists(), what="the unsaved record written after all")
        assert json.loads((journal / "first.json").read_text())["state"] == "done"
        assert engine.alive()


def test_history_is_pruned_by_count_and_age_on_start_and_while_running(tmp_path, shot_dir):
    journal = tmp_path / "journal"
    journal.mkdir()
    now = time.time()
    for index in range(30):
        record = {"job_id": "old%02d" % index, "state": "done", "submitted": now - 1000 + index,
                  "finished": now - 1000 + index, "spec": {}}
        (journal / ("old%02d.json" % index)).write_text(json.dumps(record))
    ancient = {"job_id": "ancient", "state": "failed", "submitted": now - 90 * 86400,
               "finished": now - 90 * 86400, "spec": {}}
    (journal / "ancient.json").write_text(json.dumps(ancient))
    with InProcessEngine(shot_dir, journal=journal, settings={"history_max_jobs": 10, "history_max_days": 30.0}) as engine:
        assert len(engine.server.table.records) == 10
        assert not (journal / "ancient.json").exists() and not (journal / "old00.json").exists()
        assert (journal / "old29.json").exists()
        assert any("20 finished ones pruned" in line or "21 finished ones pruned" in line for line in engine.lines)


# -- liveness ---------------------------------------------------------------------------------------
def test_a_stopped_worker_is_killed_its_job_failed_and_the_next_job_runs(shot_dir):
    with InProcessEngine(shot_dir, settings={"worker_timeout_s": 1.5}) as engine, engine.client() as client:
        job_id = client.submit(spec_data(shot_dir, steps=50), job_id="hung")
        wait_for(lambda: client.status(job_id)["state"] == "running", what="job running")
        pid = engine.server.workers[0].pid
        os.kill(pid, signal.SIGSTOP)
        record = client.wait(job_id, timeout_s=15)
        assert record["state"] == "failed" and record["error"]["code"] == protocol.WORKER_HUNG
        assert "sent nothing for" in record["error"]["message"]
        after = client.submit(spec_data(shot_dir, steps=1), job_id="after")
        assert client.wait(after, timeout_s=15)["state"] == "done"
        assert engine.server.workers[0].pid != pid


def test_a_job_past_its_time_limit_is_stopped_and_failed(shot_dir):
    with InProcessEngine(shot_dir, settings={"job_time_limit_s": 0.5}) as engine, engine.client() as client:
        job_id = client.submit(spec_data(shot_dir, steps=100), job_id="slow")
        record = client.wait(job_id, timeout_s=15)
        assert record["state"] == "failed" and record["error"]["code"] == protocol.TIME_LIMIT
        assert "engine.job_time_limit_s" in record["error"]["message"]


# -- limits and fairness ----------------------------------------------------------------------------
def test_bad_submits_that_ask_to_watch_leave_no_watchers(shot_dir):
    with InProcessEngine(shot_dir) as engine, engine.client() as client:
        bad = spec_data(shot_dir)
        bad["sampler"]["steps"] = -1
        for index in range(300):
            with pytest.raises(EngineError):
                client.request("submit", job_id="bad%d" % index, spec=bad, watch=True)
        assert engine.server.watchers.count() == 0


def test_watchers_of_a_client_that_went_away_are_dropped(shot_dir):
    with InProcessEngine(shot_dir) as engine:
        client = engine.client()
        job_id = client.submit(spec_data(shot_dir, steps=30), job_id="watched", watch=True)
        assert engine.server.watchers.count() == 1
        client.close()  # gone without a word: the next heartbeat finds its identity unroutable
        wait_for(lambda: engine.server.watchers.count() == 0, 5.0, "watchers dropped")
        with engine.client() as other:
            other.cancel(job_id)


def test_per_client_queue_cap_and_paged_listing(shot_dir):
    settings = {"max_queued_per_client": 40}
    with InProcessEngine(shot_dir, settings=settings) as engine, engine.client() as client:
        client.submit(spec_data(shot_dir, steps=100), job_id="blocker")
        wait_for(lambda: client.status("blocker")["state"] == "running", what="blocker running")
        shot = "s" * 128
        for index in range(40):
            client.submit(spec_data(shot_dir, shot=shot, steps=1), job_id="q%03d" % index)
        with pytest.raises(EngineError) as error:
            client.submit(spec_data(shot_dir, steps=1), job_id="one-too-many")
        assert error.value.code == protocol.QUEUE_FULL and "max_queued_per_client" in str(error.value)
        with engine.client(user="someone-else") as other:  # another client still gets in
            other.submit(spec_data(shot_dir, steps=1), job_id="other")
        page = client.request("jobs", limit=15)
        assert len(page["jobs"]) == 15 and page["total"] == 41 and page["next"] == page["jobs"][-1]["job_id"]
        listed = client.jobs()
        assert len(listed) == 41 and len({job["job_id"] for job in listed}) == 41
        assert listed[0]["submitted"] >= listed[-1]["submitted"]  # newest first
        client.cancel("blocker")


# -- ownership --------------------------------------------------------------------------------------
def test_jobs_belong_to_the_client_that_submitted_them(shot_dir):
    with InProcessEngine(shot_dir) as engine:
        with engine.client(user="alice") as alice, engine.client(user="bob") as bob, engine.client() as admin:
            job_id = alice.submit(spec_data(shot_dir, steps=30), job_id="alices")
            for call in (lambda: bob.status(job_id), lambda: bob.cancel(job_id), lambda: bob.result(job_id),
                         lambda: bob.request("status", job_id=job_id, watch=True),
                         lambda: bob.submit(spec_data(shot_dir), job_id=job_id)):
                with pytest.raises(EngineError) as error:
                    call()
                assert error.value.code == protocol.NOT_YOURS
            assert bob.jobs() == [] and [job["job_id"] for job in alice.jobs()] == [job_id]
            assert alice.status(job_id)["owner"] == "alice" and "owner_key" not in alice.status(job_id)
            with pytest.raises(EngineError) as error:
                bob.jobs(everyone=True)
            assert error.value.code == protocol.NOT_YOURS
            # the engine's own OS user is an admin: sees and cancels everyone's jobs
            assert [job["job_id"] for job in admin.jobs(everyone=True)] == [job_id]
            assert admin.hello()["you"] == {"name": local_user(), "admin": True}
            admin.cancel(job_id)
            assert alice.wait(job_id, timeout_s=10)["state"] == "cancelled"


# -- keys -------------------------------------------------------------------------------------------
def curve_engine(shot_dir, keys, **settings):
    from actanywhere.engine.service.keys import create_keys

    server_public, server_secret = create_keys(str(keys), "engine")
    settings.update(server_secret_key=server_secret, client_keys_dir=str(keys / "allowed"))
    return server_public, InProcessEngine(shot_dir, settings=settings)


def test_the_allow_list_reloads_on_sighup_and_on_change_and_names_a_bad_key_file(tmp_path, shot_dir):
    from actanywhere.engine.errors import ConfigError
    from actanywhere.engine.service.keys import create_keys

    keys = tmp_path / "keys"
    allowed = keys / "allowed"
    _, alice_secret = create_keys(str(allowed), "alice")
    _, bob_secret = create_keys(str(keys / "later"), "bob")
    server_public, engine = curve_engine(shot_dir, keys, admin_clients=["alice"])
    alice_keys = {"server_public_key": server_public, "client_secret_key": alice_secret}
    bob_keys = {"server_public_key": server_public, "client_secret_key": bob_secret}
    with engine:
        with engine.client(**alice_keys) as alice:
            assert alice.hello()["you"] == {"name": "alice", "admin": True}
            with engine.client(**bob_keys) as bob:
                with pytest.raises(EngineUnavailableError) as error:
                    bob.hello()
                assert error.value.code == protocol.AUTH_REFUSED
            shutil.copy(str(keys / "later" / "bob.key"), str(allowed / "bob.key"))  # admitted without a restart
            engine.server.request_reload()
            wait_for(lambda: any("client keys from" in line and "bob" in line for line in engine.lines),
                     5.0, "the allow-list reloaded")
            with engine.client(**bob_keys) as bob:
                assert bob.hello()["you"]["name"] == "bob"
                job_id = bob.submit(spec_data(shot_dir, steps=1), job_id="bobs")
                assert bob.wait(job_id, timeout_s=10)["state"] == "done"
                assert alice.jobs() == []  # a key owns its jobs; alice, an admin, sees them on asking
                assert [job["job_id"] for job in alice.jobs(everyone=True)] == [job_id]
                os.unlink(str(allowed / "bob.key"))  # revoked: also on the open connection
                (allowed / "broken.key").write_text("not a key\n")
                wait_for(lambda: any("left out" in line and "broken.key" in line for line in engine.lines),
                         10.0, "the bad key file reported on reload")
                with pytest.raises(EngineError) as error:
                    bob.jobs()
                assert error.value.code == protocol.AUTH_REFUSED
            assert alice.jobs(everyone=True)[0]["owner"] == "bob"  # alice is an admin, still admitted

    with pytest.raises(ConfigError) as error:  # at start a bad key file stops the engine, by name
        with InProcessEngine(shot_dir, settings=dict(engine.config.engine.__dict__)):
            pass
    assert "broken.key" in str(error.value)


def test_a_client_without_keys_is_told_the_engine_requires_them(tmp_path, shot_dir):
    keys = tmp_path / "keys"
    (keys / "allowed").mkdir(parents=True)
    _, engine = curve_engine(shot_dir, keys)
    with engine, engine.client(timeout_s=5.0) as plain:
        started = time.monotonic()
        with pytest.raises(EngineUnavailableError) as error:
            plain.hello()
        assert error.value.code == protocol.AUTH_REQUIRED and "engine.client_secret_key" in str(error.value)
        assert time.monotonic() - started < 3.0


def test_a_secret_key_readable_by_others_is_warned_about(tmp_path):
    from actanywhere.engine.service.clients import secret_key_warning
    from actanywhere.engine.service.keys import create_keys

    _, secret = create_keys(str(tmp_path), "artist")
    assert secret_key_warning(secret) is None
    os.chmod(secret, 0o644)
    assert "chmod 600" in secret_key_warning(secret)
