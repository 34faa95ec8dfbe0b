"""Who a request comes from, and who may connect: the CurveZMQ allow-list and job ownership.

With CurveZMQ, a client is its public key: the allow-list is a folder of NAME.key files, read again
on SIGHUP and whenever the folder changes, so a key is revoked by deleting its file. A key file that
does not hold a key is refused by name: at start the engine does not start; on a reload it is left
out (and logged) while the others apply, so a revocation never waits for a typo to be fixed.

Without CurveZMQ (loopback and IPC only, where every client is an account on this host) a client is
the OS user its requests name. That keeps one user's mistakes off another's jobs; it is not a
defence against a hostile local account: for that, use keys.
"""
from __future__ import annotations

import getpass
import os
import stat
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional

from ..errors import ConfigError

KEY_SUFFIX = ".key"


@dataclass(frozen=True)
class Client:
    """The owner a request acts as: `key` identifies it (a job records it), `name` is for people."""

    key: str
    name: str
    admin: bool = False

    def may_act_on(self, record: Dict) -> bool:
        """Its own jobs; every job for an admin. A job with no owner on record (written by an older
        engine) is an admin's."""
        return self.admin or record.get("owner_key") == self.key


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "uid%d" % os.getuid() if hasattr(os, "getuid") else "unknown"


class AllowList:
    """The CurveZMQ clients an engine admits, from a folder of public key files. Thread-safe: the ZAP
    thread calls `callback` while the engine's loop may swap in a reloaded list."""

    def __init__(self, directory: str, admin_names: Iterable[str] = (), log: Callable[[str], None] = print):
        self.directory = directory
        self.admin_names = set(admin_names)
        self._log = log
        self._keys = {}  # type: Dict[bytes, str]  z85 public key -> key name
        self._signature = None
        self._lock = threading.Lock()

    def load(self, strict: bool) -> None:
        """(Re)read the folder. `strict` (at start): a bad key file is a ConfigError naming it."""
        if not os.path.isdir(self.directory):
            raise ConfigError("engine.client_keys_dir %s is not a directory of client public keys" % self.directory)
        import zmq.auth
        from zmq.utils import z85

        keys, problems = {}, []
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(KEY_SUFFIX):
                continue
            path = os.path.join(self.directory, name)
            try:
                public, _ = zmq.auth.load_certificate(path)
                if not public or len(z85.decode(public)) != 32:
                    raise ValueError("no 32-byte public key in it")
            except (OSError, ValueError) as error:
                problems.append("%s: %s" % (path, error))
                continue
            keys[bytes(public)] = name[:-len(KEY_SUFFIX)]
        if problems and strict:
            raise ConfigError("engine.client_keys_dir: cannot read the client key file %s; fix or remove it "
                              "(make keys with `actanywhere keys create`)" % "; ".join(problems))
        for problem in problems:
            self._log("allow-list: left out %s; fix or remove the file" % problem)
        unknown_admins = self.admin_names - set(keys.values())
        if unknown_admins:
            self._log("allow-list: engine.admin_clients names %s, which no key file in %s holds"
                      % (", ".join(sorted(unknown_admins)), self.directory))
        with self._lock:
            self._keys = keys
        self._signature = self._folder_signature()

    def changed(self) -> bool:
        """Whether the folder's key files changed since the last load (names, sizes or times)."""
        return self._folder_signature() != self._signature

    def names(self) -> List[str]:
        with self._lock:
            return sorted(self._keys.values())

    def callback(self, domain: str, key: bytes) -> bool:
        """pyzmq's ZAP credentials provider: admit a key that is on the list now."""
        with self._lock:
            return bytes(key) in self._keys

    def client(self, user_id: Optional[str]) -> Optional[Client]:
        """The client behind a ZAP User-Id (the z85 key), if it is still on the list."""
        if not user_id:
            return None
        with self._lock:
            name = self._keys.get(user_id.encode("ascii", "replace"))
        if name is None:
            return None
        return Client(key="key:" + user_id, name=name, admin=name in self.admin_names)

    def _folder_signature(self):
        try:
            entries = sorted((entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                             for entry in os.scandir(self.directory) if entry.name.endswith(KEY_SUFFIX))
        except OSError:
            return None
        return tuple(entries)


def local_client(claimed_user: object, admin_names: Iterable[str]) -> Client:
    """The client of a request without CurveZMQ: the OS user it names (see the module's note)."""
    user = claimed_user if isinstance(claimed_user, str) and 0 < len(claimed_user) <= 64 else "unknown"
    return Client(key="user:" + user, name=user, admin=user == local_user() or user in set(admin_names))


def secret_key_warning(path: str) -> Optional[str]:
    """A warning when a secret key file can be read by others than its owner (it should be 0600)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return ("the secret key file %s can be read by other users (mode %o); run `chmod 600 %s`"
                % (path, stat.S_IMODE(mode), path))
    return None
