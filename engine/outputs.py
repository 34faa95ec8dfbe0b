"""Outputs: the one owner of output templates, versions, their publication and their records.

Pure Python (Nuke's Python imports this; the EXR writing is in media/versioning.py).

**The template.** `OutputTemplate.parse` checks a template once, when it is given, and everything
else asks it: `{version}` names a folder (so a version is published in one rename), `{pass}` comes
after it (every pass of a version lives in that folder), the file name holds one frame token, and
the only tokens are {version}, {shot}, {pass} and {seed}:

    /shows/demo/sh010/bg/{version}/{shot}_{pass}_{version}.####.exr

**A version is published exactly once, all at once.**
- It is claimed by renaming a folder holding a claim (owner pid, host, job) to `.v003.staging`, next to
  where `v003` will be; no Read looks at hidden names. The frames, the .otio files and the version's
  record (`.actanywhere-version.json`: shot, seed, frames, paths, job id, task id, spec hash, model
  checksum) are written inside it.
- It becomes visible in one step: the rename of `.v003.staging` to `v003`. A kill at any instant leaves
  either the whole version, with its record, or nothing visible.
- A claim whose owner has died is reclaimed by the next claim in that folder: its number is free again,
  so a retry reuses it. On the claimant's host a claim is dead when its process is gone (or its pid
  was reused); from another host, when its claimant has not touched it for CLAIM_TIMEOUT_S (it does
  at every frame written).
- A job publishes one version per seed: before it runs, when it claims and again just before its
  rename, it looks for the version its key (the farm task id, else the engine job id) already
  published; when it claims, also for a live claim of the same key with a lower number (another run
  of it, in progress on this host: it yields rather than publish twice).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from .errors import ActAnywhereError, SequenceError
from .sequence import FrameRange, FrameSequence

TOKENS = ("version", "shot", "pass", "seed")
RECORD = ".actanywhere-version.json"
CLAIM = ".actanywhere-claim.json"
STAGING_SUFFIX = ".staging"
EXAMPLE = "out/{shot}/{version}/{shot}_{pass}_{version}.####.exr"
_BRACES = re.compile(r"\{([^{}]*)\}")
_VERSION_NUMBER = r"v(\d{3,})"
_RECORD_VERSION = 1
CLAIM_TIMEOUT_S = 600.0  # a claim of another host untouched this long is dead (frames take seconds each)

# Fault injection for the kill-at-every-step test (tests/test_publish_faults.py): called with the
# name of each file operation of a publish, before it runs. None in production.
fault_point = None  # type: Optional[Callable[[str], None]]


class OutputError(ActAnywhereError):
    """A bad output template, or a version that cannot be claimed, published or read."""

    def __init__(self, message: str, code: str = "output_error"):
        super().__init__(message)
        self.code = code


def version_name(version: int) -> str:
    return "v%03d" % version


def fault(step: str) -> None:
    """A publish is about to do `step` (see fault_point)."""
    if fault_point is not None:
        fault_point(step)


# -- the template -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutputTemplate:
    text: str
    parent: str  # the folder of the version folders, tokens unfilled ({shot}, {seed})
    version_component: str  # the version folder's name, e.g. "{version}" or "{shot}_{version}"
    below: str  # the path inside the version folder: subfolders and the file name

    @classmethod
    def parse(cls, text: str, where: str = "output.template") -> "OutputTemplate":
        """The template, or OutputError saying what is wrong and how a good one looks."""
        def refuse(problem: str) -> OutputError:
            return OutputError("%s %s" % (where, _problem_text(text, problem)), "bad_template")

        if not isinstance(text, str) or not text.strip():
            raise refuse("it is empty")
        for match in _BRACES.finditer(text):
            if match.group(1) not in TOKENS:
                raise refuse("{%s} is not a token; the tokens are %s"
                             % (match.group(1), ", ".join("{%s}" % token for token in TOKENS)))
        if "{" in _BRACES.sub("", text) or "}" in _BRACES.sub("", text):
            raise refuse("it holds a stray brace")
        parts = text.replace("\\", "/").split("/")
        folders, name = parts[:-1], parts[-1]
        try:
            sequence = FrameSequence.parse(_BRACES.sub("x", text))
        except SequenceError as error:
            raise refuse(str(error).rstrip("."))
        if not sequence.has_frame_token:
            raise refuse("the file name has no frame token (####, %04d, @ or $F4), so every frame would "
                         "be written to one file")
        index = next((i for i, part in enumerate(folders) if "{version}" in part), None)
        if index is None:
            raise refuse("{version} must name a folder, so that a version is published all at once")
        if "{pass}" in "/".join(folders[:index + 1]):
            raise refuse("{pass} must come after the {version} folder: a version's passes share its folder")
        if "{pass}" not in "/".join(parts[index + 1:]):
            raise refuse("it has no {pass} token below the {version} folder, so the bg and comp passes "
                         "would share file names")
        if name.startswith("."):
            raise refuse("the file name is hidden (starts with a dot), so no Read would show it")
        return cls(text, "/".join(folders[:index]) or "/", folders[index], "/".join(parts[index + 1:]))

    # -- filling ------------------------------------------------------------------------------------
    def _values(self, version: Optional[int], shot: str, pass_name: Optional[str], seed: Optional[int]):
        return {"version": None if version is None else version_name(version), "shot": shot,
                "pass": pass_name, "seed": None if seed is None else str(seed)}

    def _fill(self, text: str, version: Optional[int], shot: str, pass_name: Optional[str] = None,
              seed: Optional[int] = None) -> str:
        values = self._values(version, shot, pass_name, seed)
        for token in TOKENS:
            if "{%s}" % token in text and values[token] is None:
                raise OutputError("output template %r needs a %s to fill {%s}" % (self.text, token, token),
                                  "bad_template")
        return _BRACES.sub(lambda match: values[match.group(1)], text)

    def version_parent(self, shot: str, seed: Optional[int] = None) -> str:
        """The folder that holds the shot's version folders."""
        return self._fill(self.parent, None, shot, seed=seed)

    def version_folder(self, version: int, shot: str, seed: Optional[int] = None) -> str:
        return os.path.join(self.version_parent(shot, seed), self._fill(self.version_component, version, shot, seed=seed))

    def sequence_path(self, version: int, shot: str, pass_name: str, seed: Optional[int] = None) -> str:
        """The final path of one pass's frame sequence (frame token kept)."""
        return os.path.join(self.version_folder(version, shot, seed), self._fill(self.below, version, shot, pass_name, seed))

    def otio_path(self, version: int, shot: str, pass_name: str, seed: Optional[int] = None) -> str:
        """The .otio beside a pass's frames: the sequence's prefix without its separator, plus .otio."""
        return FrameSequence.parse(self.sequence_path(version, shot, pass_name, seed)).prefix.rstrip("._-") + ".otio"

    def static_root(self) -> str:
        """The deepest folder of the template without a token (where outputs land, to check writable)."""
        head = self.text.split("{", 1)[0]
        return os.path.dirname(head + "x") or "."

    def folder_pattern(self, shot: str, seed: Optional[int] = None) -> "re.Pattern":
        """Matches a version folder's name (group 1: the number)."""
        pieces = []
        for piece in re.split(r"(\{\w+\})", self.version_component):
            if piece == "{version}":
                pieces.append(_VERSION_NUMBER if not any(_VERSION_NUMBER in p for p in pieces) else r"v\1")
            elif piece.startswith("{") and piece.endswith("}"):
                pieces.append(re.escape(self._fill(piece, None, shot, seed=seed)))
            else:
                pieces.append(re.escape(piece))
        return re.compile("".join(pieces) + "$")

    def versions_taken(self, shot: str, seed: Optional[int] = None) -> List[int]:
        """Numbers published or claimed in the shot's version folder, sorted."""
        parent = self.version_parent(shot, seed)
        pattern = self.folder_pattern(shot, seed)
        taken = set()
        for name in _list(parent):
            bare = name[1:-len(STAGING_SUFFIX)] if name.startswith(".") and name.endswith(STAGING_SUFFIX) else name
            match = pattern.match(bare)
            if match:
                taken.add(int(match.group(1)))
        return sorted(taken)


def _problem_text(text: str, problem: str) -> str:
    return "%r: %s; for example %s" % (text, problem, EXAMPLE)


def template_problem(text: str) -> Optional[str]:
    """What is wrong with a template (for the settings' check, which names the key), or None."""
    try:
        OutputTemplate.parse(text, where="")
    except OutputError as error:
        return str(error).strip()
    return None


# -- the record of a published version --------------------------------------------------------------
@dataclass
class PublishedVersion:
    """What one published version is: the only shape of it the engine, the farm and Nuke pass around."""

    shot: str
    version: int
    seed: Optional[int]
    frames: str  # a frame range, e.g. 1001-1048
    sequences: Dict[str, str]  # pass -> frame-sequence path (####)
    otio_paths: Dict[str, str] = field(default_factory=dict)
    folder: str = ""
    job_id: str = ""
    task_id: str = ""
    spec_hash: str = ""
    model: str = ""
    model_checksum: str = ""
    published: float = 0.0

    @property
    def version_name(self) -> str:
        return version_name(self.version)

    @property
    def frame_range(self) -> FrameRange:
        return FrameRange.parse(self.frames)

    @property
    def key(self) -> str:
        """Who published it, for exactly-once: the farm task, else the engine job."""
        return self.task_id or self.job_id

    def to_data(self) -> Dict[str, Any]:
        data = asdict(self)
        data.update(record_version=_RECORD_VERSION, version_name=self.version_name)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any], source: str = "version record") -> "PublishedVersion":
        try:
            return cls(shot=str(data["shot"]), version=int(data["version"]), seed=data.get("seed"),
                       frames=str(data["frames"]), sequences=dict(data["sequences"]),
                       otio_paths=dict(data.get("otio_paths") or {}), folder=str(data.get("folder") or ""),
                       job_id=str(data.get("job_id") or ""), task_id=str(data.get("task_id") or ""),
                       spec_hash=str(data.get("spec_hash") or ""), model=str(data.get("model") or ""),
                       model_checksum=str(data.get("model_checksum") or ""),
                       published=float(data.get("published") or 0.0))
        except (KeyError, TypeError, ValueError) as error:
            raise OutputError("%s: not a version record (%s: %s)" % (source, type(error).__name__, error),
                              "bad_record") from None


def read_record(folder: str) -> PublishedVersion:
    """The record of the version published in `folder`."""
    path = os.path.join(folder, RECORD)
    try:
        with open(path, "r", encoding="utf-8") as stream:
            data = json.load(stream)
    except FileNotFoundError:
        raise OutputError("%s: no version record; this folder holds no version ActAnywhere published" % folder,
                          "no_record") from None
    except (OSError, ValueError) as error:
        raise OutputError("%s: cannot read the version record (%s)" % (path, error), "bad_record") from None
    return PublishedVersion.from_data(data, path)


def published_versions(template: OutputTemplate, shot: str, seed: Optional[int] = None) -> List[PublishedVersion]:
    """Every version published for the shot, oldest first: version folders with a record. (A folder
    without one was not published by ActAnywhere, or by a version older than records.)"""
    parent = template.version_parent(shot, seed)
    pattern = template.folder_pattern(shot, seed)
    found = []
    for name in _list(parent):
        if pattern.match(name):
            try:
                record = read_record(os.path.join(parent, name))
            except OutputError:
                continue
            if record.shot == shot:
                found.append(record)
    return sorted(found, key=lambda record: record.version)


def published_by(template: OutputTemplate, shot: str, key: str, seed: Optional[int]) -> Optional[PublishedVersion]:
    """The version `key` (a farm task id or an engine job id) already published for `seed`, if any."""
    if not key:
        return None
    for record in published_versions(template, shot, seed):
        if record.key == key and record.seed == seed:
            return record
    return None


# -- claiming and publishing ------------------------------------------------------------------------
@dataclass
class Claim:
    """A claimed version: its staging folder (hidden, where everything is written) and where it goes."""

    template: OutputTemplate
    shot: str
    seed: Optional[int]
    version: int
    staging: str
    final: str

    @property
    def version_name(self) -> str:
        return version_name(self.version)

    def staged_path(self, final_path: str) -> str:
        """Where a file of the final version is written while it is staged."""
        return self.staging + final_path[len(self.final):]

    def heartbeat(self) -> None:
        """Tell other hosts this claim is alive (its claim file's time; see CLAIM_TIMEOUT_S)."""
        try:
            os.utime(os.path.join(self.staging, CLAIM))
        except OSError:
            pass

    def publish(self, record: PublishedVersion) -> PublishedVersion:
        """Write the record into the staging folder and rename it into place: the whole version appears
        at once. Never over an existing version, nor when the record's key has published this seed
        meanwhile (OutputError already_published: that run's version stands)."""
        existing = published_by(self.template, self.shot, record.key, self.seed)
        if existing is not None:
            raise OutputError("%s already published %s of %s (seed %s) while this run rendered; that version "
                              "stands" % (record.key, existing.version_name, self.shot, self.seed), "already_published")
        record.folder = self.final
        record.published = time.time()
        fault("write record")
        _write_json(os.path.join(self.staging, RECORD), record.to_data())
        if os.path.lexists(self.final):
            raise OutputError("%s already exists; versions are never overwritten; remove the stray folder "
                              "or render again for a new version" % self.final, "version_exists")
        fault("rename into place")
        os.rename(self.staging, self.final)
        fault("after rename")
        _sync_folder(os.path.dirname(self.final))
        try:
            os.unlink(os.path.join(self.final, CLAIM))
        except OSError:
            pass
        return record

    def abandon(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def claim_version(template: OutputTemplate, shot: str, seed: Optional[int] = None, key: str = "",
                  log: Callable[[str], None] = lambda text: None) -> Claim:
    """Claim the next free version for the shot (after reclaiming the claims of dead processes).
    With a `key`: OutputError(code="already_published") if that key has published this seed, or
    (code="publish_in_progress") if a live run of the same key holds a lower number."""
    parent = template.version_parent(shot, seed)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise OutputError("cannot create the output folder %s: %s; check the output path and its permissions"
                          % (parent, error.strerror)) from None
    reclaim_dead_claims(template, shot, seed, log)
    taken = template.versions_taken(shot, seed)
    version = (taken[-1] if taken else 0) + 1
    while True:
        claim = _try_claim(template, shot, seed, version, key)
        if claim is not None:
            break
        version += 1
    if key:
        try:
            _check_same_key(template, shot, seed, key, claim)
        except OutputError:
            claim.abandon()
            raise
    return claim


def _try_claim(template, shot, seed, version, key) -> Optional[Claim]:
    final = template.version_folder(version, shot, seed)
    parent, name = os.path.split(final)
    staging = os.path.join(parent, "." + name + STAGING_SUFFIX)
    if os.path.lexists(final) or os.path.lexists(staging):
        return None
    # The claim is made whole in a private folder and renamed to the staging name: a rename onto a
    # folder that exists (and holds a claim) fails, so exactly one claimant gets the number.
    private = os.path.join(parent, ".%s.claiming-%d-%s" % (name, os.getpid(), uuid.uuid4().hex[:8]))
    os.mkdir(private)
    fault("write claim")
    _write_json(os.path.join(private, CLAIM), {
        "pid": os.getpid(), "host": socket.gethostname(), "started": _process_start(os.getpid()),
        "key": key, "seed": seed, "version": version, "claimed": time.time()})
    try:
        fault("claim")
        os.rename(private, staging)
    except OSError:
        shutil.rmtree(private, ignore_errors=True)
        return None
    if os.path.lexists(final):  # published by another claimant between our check and our rename
        shutil.rmtree(staging, ignore_errors=True)
        return None
    return Claim(template, shot, seed, version, staging, final)


def _check_same_key(template, shot, seed, key, claim: Claim) -> None:
    existing = published_by(template, shot, key, seed)
    if existing is not None:
        raise OutputError("%s already published %s of %s (seed %s)" % (key, existing.version_name, shot, seed),
                          "already_published")
    for other in _claims(template, shot, seed):
        if other["key"] == key and other["version"] < claim.version and _alive(other):
            raise OutputError(
                "%s is being published as %s of %s by pid %s on %s; wait for that run to finish instead of "
                "running it twice" % (key, version_name(other["version"]), shot, other.get("pid"), other.get("host")),
                "publish_in_progress")


def reclaim_dead_claims(template: OutputTemplate, shot: str, seed: Optional[int],
                        log: Callable[[str], None] = lambda text: None) -> List[str]:
    """Remove the staging folders whose claimant died on this host; returns the folders removed.
    Claims from other hosts are left alone (their processes cannot be seen from here)."""
    removed = []
    for claim in _claims(template, shot, seed, include_private=True):
        if not _alive(claim):
            shutil.rmtree(claim["path"], ignore_errors=True)
            removed.append(claim["path"])
            log("reclaimed %s: its claimant (pid %s on %s) is gone" % (claim["path"], claim.get("pid"), claim.get("host")))
    return removed


def _claims(template: OutputTemplate, shot: str, seed: Optional[int], include_private: bool = False) -> List[Dict[str, Any]]:
    parent = template.version_parent(shot, seed)
    claims = []
    for name in _list(parent):
        private = ".claiming-" in name
        if not name.startswith(".") or not (name.endswith(STAGING_SUFFIX) or (include_private and private)):
            continue
        path = os.path.join(parent, name)
        try:
            with open(os.path.join(path, CLAIM), "r", encoding="utf-8") as stream:
                data = json.load(stream)
            data["version"] = int(data["version"])
        except (OSError, ValueError, KeyError, TypeError):
            # no readable claim: being made right now (private) or torn; dead once it is an hour old
            data = {"version": 0, "key": "", "host": socket.gethostname(), "pid": None}
            data["stale"] = _age(path) > 3600
        data["path"] = path
        claims.append(data)
    return claims


def _alive(claim: Mapping[str, Any]) -> bool:
    if claim.get("stale"):
        return False
    if claim.get("host") != socket.gethostname():
        # another host's process cannot be seen from here: its claimant touches the claim as it works
        return _age(os.path.join(claim["path"], CLAIM)) < CLAIM_TIMEOUT_S
    if not claim.get("pid"):
        return True  # a claim being made
    return bool(process_alive(claim.get("host"), claim["pid"], claim.get("started")))


def process_start_time() -> Optional[int]:
    """This process's start time (see process_alive), for records that name their process."""
    return _process_start(os.getpid())


def process_alive(host: Optional[str], pid, started: Optional[int] = None) -> Optional[bool]:
    """Whether process `pid` of `host` (started at `started`, from process_start_time) still runs:
    None when it is on another host, which cannot be seen from here."""
    if host != socket.gethostname():
        return None
    pid = int(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return started is None or _process_start(pid) in (None, started)  # a reused pid is another process


def _process_start(pid: int) -> Optional[int]:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        with open("/proc/%d/stat" % pid, "r") as stream:
            return int(stream.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


# -- reading .otio files (no opentimelineio: Nuke's Python lacks it) -----------------------------------
def read_otio(path: str) -> Dict[str, Any]:
    """The first clip of an .otio the engine wrote: its sequence path (#### form), frames and the
    clip's actanywhere metadata."""
    try:
        with open(path, "r", encoding="utf-8") as stream:
            timeline = json.load(stream)
        track = timeline["tracks"]["children"][0]
        clip = next(child for child in track["children"] if str(child.get("OTIO_SCHEMA", "")).startswith("Clip"))
        references = clip.get("media_references") or {}
        reference = references.get(clip.get("active_media_reference_key", "DEFAULT_MEDIA")) or clip["media_reference"]
        padding = int(reference.get("frame_zero_padding") or 0)
        sequence_path = "%s%s%s%s" % (reference["target_url_base"], reference["name_prefix"],
                                      "#" * padding if padding else "#", reference["name_suffix"])
        available = reference["available_range"]
        step = int(reference.get("frame_step") or 1)
        first = int(round(available["start_time"]["value"]))
        count = int(round(available["duration"]["value"]))
        metadata = dict((clip.get("metadata") or {}).get("actanywhere") or {})
    except FileNotFoundError:
        raise OutputError("%s: no such .otio file" % path, "no_record") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError, StopIteration) as error:
        raise OutputError("%s: not an ActAnywhere .otio (%s: %s)" % (path, type(error).__name__, error),
                          "bad_record") from None
    return {"path": sequence_path.replace("\\", "/"),
            "frames": FrameRange(range(first, first + count, step)), "metadata": metadata}


# -- helpers ----------------------------------------------------------------------------------------
def _list(folder: str) -> List[str]:
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    except OSError as error:
        raise OutputError("cannot list the output folder %s: %s; check its permissions" % (folder, error.strerror)) from None


def _age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return 0.0


def _write_json(path: str, data: Mapping[str, Any]) -> None:
    temporary = "%s.tmp-%d" % (path, os.getpid())
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(data, stream, sort_keys=True, indent=1)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def _sync_folder(folder: str) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

