"""The protocol's header checks, the path sandbox and the journal, without sockets or a model."""
import json
import os
import shutil

import pytest

from actanywhere.engine import config as config_module, protocol, shotspec
from actanywhere.engine.service.journal import Journal, prunable
from actanywhere.engine.service.sandbox import Sandbox, SandboxError


def test_encode_decode_round_trip():
    message = protocol.message("submit", id="abc", job_id="sh010-1", spec={"shot": "sh010"}, watch=None)
    assert "watch" not in message
    assert protocol.decode(protocol.encode(message)) == message


@pytest.mark.parametrize("raw, code", [
    (b"\xff\xfe", protocol.BAD_MESSAGE),
    (b"null", protocol.BAD_MESSAGE),
    (b'{"v": 2, "kind": "hello"}', protocol.UNSUPPORTED_VERSION),
    (b'{"v": 1, "kind": "__import__"}', protocol.BAD_REQUEST),
    (b'{"v": 1, "kind": "hello", "id": 5}', protocol.BAD_REQUEST),
    (b'{"v": 1, "kind": "hello", "x": Infinity}', protocol.BAD_MESSAGE),
    (json.dumps({"v": 1, "kind": "hello", "x": "y" * (protocol.MAX_STRING + 1)}).encode(), protocol.TOO_LARGE),
    (json.dumps({"v": 1, "kind": "hello", "x": list(range(protocol.MAX_LIST + 1))}).encode(), protocol.TOO_LARGE),
    (b'{"v": 1, "kind": "hello", "x": ' + b"[" * 20 + b"]" * 20 + b"}", protocol.TOO_LARGE),
    (b" " * (protocol.MAX_MESSAGE_BYTES + 1), protocol.TOO_LARGE),
])
def test_decode_refuses_with_a_code(raw, code):
    with pytest.raises(protocol.ProtocolError) as error:
        protocol.decode(raw)
    assert error.value.code == code and "\n" not in str(error.value)


def test_job_ids_are_safe_file_names():
    assert protocol.check_job_id("sh010-7f3a.v2_b") == "sh010-7f3a.v2_b"
    for bad in ("../x", "/etc", "", ".hidden", "a" * 65, "a b", 7):
        with pytest.raises(protocol.ProtocolError):
            protocol.check_job_id(bad)


# -- sandbox ------------------------------------------------------------------------------------------
@pytest.fixture
def layout(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    for directory in (root / "plate", root / "roto", outside):
        directory.mkdir(parents=True)
    for frame in (1, 2):
        (root / "plate" / ("p.%04d.exr" % frame)).write_bytes(b"")
        (root / "roto" / ("m.%04d.exr" % frame)).write_bytes(b"")
    (root / "c.png").write_bytes(b"")
    (outside / "secret.exr").write_bytes(b"")
    return root, outside


def make_spec(root, **changes):
    data = {"shot": "sh010", "plate": "%s/plate/p.%%04d.exr" % root, "matte": "%s/roto/m.####.exr" % root,
            "condition": "%s/c.png" % root, "frames": "1-2",
            "output": {"template": "%s/out/{shot}/{version}/{shot}_{pass}_{version}.####.exr" % root}}
    for key, value in changes.items():
        if key == "template":
            data["output"]["template"] = value
        else:
            data[key] = value
    return shotspec.resolve(data, config_module.load(environ={}).config)


def test_sandbox_accepts_paths_under_a_root(layout):
    root, _ = layout
    Sandbox([str(root)]).check_spec(make_spec(root))


def test_sandbox_refuses_traversal_absolute_and_symlinks(layout):
    root, outside = layout
    sandbox = Sandbox([str(root)])
    (root / "plate2").mkdir()
    (root / "plate2" / "p.0001.exr").write_bytes(b"")
    os.symlink(str(outside / "secret.exr"), str(root / "plate2" / "p.0002.exr"))
    os.symlink(str(outside), str(root / "escape"))
    cases = {
        "plate": ({"plate": "%s/plate2/p.%%04d.exr" % root}, "through a symlink"),  # frame 2 leads out
        "matte": ({"matte": "%s/../outside/m.####.exr" % root}, "'..'"),
        "condition": ({"condition": "/etc/hosts"}, "outside the engine's sandbox"),
        "output.template": ({"template": "%s/escape/{version}/x_{pass}.####.exr" % root}, "through a symlink"),
    }
    for field, (changes, words) in cases.items():
        with pytest.raises(SandboxError) as error:
            sandbox.check_spec(make_spec(root, **changes))
        assert str(error.value).startswith(field + ":") and words in str(error.value), str(error.value)
    with pytest.raises(SandboxError) as error:
        sandbox.check_path("condition", "c.png")
    assert "not an absolute path" in str(error.value)
    with pytest.raises(SandboxError):
        Sandbox([])


def test_sandbox_root_prefix_is_not_a_root(tmp_path):
    (tmp_path / "shows").mkdir()
    (tmp_path / "shows_private").mkdir()
    with pytest.raises(SandboxError):
        Sandbox([str(tmp_path / "shows")]).check_path("plate", str(tmp_path / "shows_private" / "x.exr"))


# -- journal ------------------------------------------------------------------------------------------
def test_journal_round_trip_skips_broken_files(tmp_path):
    journal = Journal(str(tmp_path / "journal"))
    journal.save({"job_id": "b", "state": "done", "submitted": 2})
    journal.save({"job_id": "a", "state": "queued", "spec": {}, "submitted": 1})
    journal.save({"job_id": "a", "state": "running", "spec": {}, "submitted": 1})  # replaced atomically
    (tmp_path / "journal" / "broken.json").write_text("{not json")
    (tmp_path / "journal" / "c.json.tmp-99").write_text("{}")  # a torn write's leftover is ignored
    logged = []
    records = journal.load_all(logged.append)
    assert [(record["job_id"], record["state"]) for record in records] == [("a", "running"), ("b", "done")]
    assert len(logged) == 1 and "broken.json" in logged[0]


def test_a_damaged_record_is_quarantined_as_a_failed_job_and_its_file_kept(tmp_path):
    journal = Journal(str(tmp_path / "journal"))
    journal.save({"job_id": "ok", "state": "queued", "spec": {"shot": "sh010"}, "submitted": 1})
    journal.save({"job_id": "nostate", "spec": {"shot": "sh020"}, "submitted": 2})
    journal.save({"job_id": "nospec", "state": "queued", "submitted": 3})
    damaged_text = (tmp_path / "journal" / "nospec.json").read_text()
    logged = []
    records = {record["job_id"]: record for record in journal.load_all(logged.append)}
    assert records["ok"]["state"] == "queued"
    for job_id in ("nostate", "nospec"):
        assert records[job_id]["state"] == "failed" and records[job_id]["error"]["code"] == "damaged_record"
        assert records[job_id]["quarantined"] and records[job_id]["spec"] == {}
    assert sum("quarantined" in line for line in logged) == 2 and any("nospec.json" in line for line in logged)
    assert (tmp_path / "journal" / "nospec.json").read_text() == damaged_text  # kept as it was


def test_the_journal_writes_through_spare_files_and_follows_a_replaced_folder(tmp_path):
    folder = tmp_path / "journal"
    folder.mkdir()
    (folder / ".spare-1-dead").write_text("")  # left by an engine that died
    journal = Journal(str(folder))
    spares = sorted(name for name in os.listdir(str(folder)) if name.startswith(".spare-"))
    assert len(spares) == 8 and ".spare-1-dead" not in spares
    journal.save({"job_id": "a", "state": "done", "submitted": 1})
    assert json.loads((folder / "a.json").read_text())["state"] == "done"
    assert len([name for name in os.listdir(str(folder)) if name.startswith(".spare-")]) == 8  # refilled
    shutil.rmtree(str(folder))
    folder.write_text("")
    with pytest.raises(OSError):
        journal.save({"job_id": "b", "state": "done", "submitted": 2})
    folder.unlink()
    folder.mkdir()  # a new folder in its place: the journal writes there, not into the old one
    journal.save({"job_id": "b", "state": "done", "submitted": 2})
    assert [record["job_id"] for record in Journal(str(folder)).load_all()] == ["b"]


def test_history_pruning_keeps_unfinished_and_quarantined_jobs():
    now = 1000000.0
    records = [{"job_id": "q", "state": "queued", "submitted": 0},
               {"job_id": "damaged", "state": "failed", "quarantined": True, "submitted": 0},
               {"job_id": "old", "state": "done", "finished": now - 40 * 86400},
               {"job_id": "new1", "state": "done", "finished": now - 10},
               {"job_id": "new2", "state": "cancelled", "finished": now - 5},
               {"job_id": "new3", "state": "failed", "finished": now - 1}]
    assert sorted(prunable(records, max_jobs=2, max_age_s=30 * 86400, now=now)) == ["new1", "old"]
    assert prunable(records, max_jobs=100, max_age_s=30 * 86400, now=now) == ["old"]
