"""Engine security: CurveZMQ with a client allow-list over real sockets, binding rules, key creation."""
import os
import time

import pytest

from actanywhere.engine import config as config_module
from actanywhere.engine.cli import main
from actanywhere.engine.client import EngineClient
from actanywhere.engine.errors import ConfigError, EngineError, EngineUnavailableError
from actanywhere.engine.service.keys import create_keys
from actanywhere.engine.service.server import EngineServer, is_loopback
from engine_support import EngineProcess, make_shot, published_frames, spec_data


def test_keys_create_writes_a_pair_and_never_overwrites(tmp_path, capsys):
    assert main(["keys", "create", "artist1", "--dir", str(tmp_path)]) == 0
    assert "artist1.key_secret" in capsys.readouterr().out
    assert oct(os.stat(str(tmp_path / "artist1.key_secret")).st_mode & 0o777) == "0o600"
    assert "public-key" in (tmp_path / "artist1.key").read_text()
    assert main(["keys", "create", "artist1", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow  # starts an engine process
def test_curve_admits_listed_clients_only(tmp_path):
    keys = tmp_path / "keys"
    allowed = keys / "allowed"
    server_public, server_secret = create_keys(str(keys), "engine")
    _, good_secret = create_keys(str(allowed), "artist1")
    _, stranger_secret = create_keys(str(keys / "others"), "stranger")
    make_shot(tmp_path / "shot")
    engine = EngineProcess(tmp_path, tmp_path / "journal", extra=[
        "--set", "engine.server_secret_key=%s" % server_secret, "--set", "engine.client_keys_dir=%s" % allowed])
    good = {"server_public_key": server_public, "client_secret_key": good_secret}
    try:
        engine.start(client_options=good)
        with engine.client(**good) as client:
            assert client.hello()["curve"] is True
            job_id = client.submit(spec_data(str(tmp_path / "shot")))
            assert client.wait(job_id, timeout_s=60)["state"] == "done"

        started = time.monotonic()
        with engine.client(server_public_key=server_public, client_secret_key=stranger_secret) as stranger:
            with pytest.raises(EngineUnavailableError) as error:
                stranger.hello()
        assert error.value.code == "auth_refused" and "client_keys_dir" in str(error.value)
        assert time.monotonic() - started < 10

        with engine.client(timeout_s=1.0, retries=1) as plain:  # no keys at all: never answered
            with pytest.raises(EngineUnavailableError):
                plain.jobs()
        with engine.client(**good) as client:
            assert [job["job_id"] for job in client.jobs()] == [job_id]  # the refused clients queued nothing
        assert len(published_frames(str(tmp_path / "shot" / "out"))) == 8
    finally:
        assert engine.stop() == 0, engine.log()


def test_no_keys_means_loopback_only(tmp_path):
    assert is_loopback("tcp://127.0.0.1:5570") and is_loopback("ipc:///tmp/engine") and is_loopback("tcp://localhost:1")
    assert not is_loopback("tcp://0.0.0.0:5570") and not is_loopback("tcp://10.0.0.3:5570")
    config = config_module.load(environ={}).config
    with pytest.raises(ConfigError) as error:
        EngineServer(config, bind="tcp://0.0.0.0:5570", sandbox_roots=[str(tmp_path)], journal_dir=str(tmp_path / "j"))
    assert "without CurveZMQ keys" in str(error.value)
    config.engine.allow_insecure_remote = True
    EngineServer(config, bind="tcp://0.0.0.0:5570", sandbox_roots=[str(tmp_path)], journal_dir=str(tmp_path / "j"))


def test_serve_refuses_to_start_without_a_sandbox(tmp_path, capsys):
    assert main(["serve", "--journal", str(tmp_path)]) == 2
    assert "sandbox_roots is empty" in capsys.readouterr().err


def test_client_never_blocks_forever_when_no_engine_runs():
    started = time.monotonic()
    with EngineClient("tcp://127.0.0.1:9", timeout_s=0.3, retries=2) as client:
        with pytest.raises(EngineUnavailableError) as error:
            client.submit({"shot": "sh010"}, job_id="x")
    assert time.monotonic() - started < 3
    assert "after 3 tries" in str(error.value) and isinstance(error.value, EngineError)
