"""CurveZMQ keys: creating key pairs (`actanywhere keys create`) and loading them for the engine and
the client. A key pair is two files made by zmq.auth: NAME.key (public, safe to share) and
NAME.key_secret (keep private). The engine's allow-list is a directory of clients' NAME.key files."""
from __future__ import annotations

import os
from typing import Tuple

from ..errors import ConfigError


def create_keys(directory: str, name: str) -> Tuple[str, str]:
    """Write NAME.key and NAME.key_secret under `directory`; never overwrites."""
    import zmq.auth

    os.makedirs(directory, exist_ok=True)
    for suffix in (".key", ".key_secret"):
        path = os.path.join(directory, name + suffix)
        if os.path.exists(path):
            raise ConfigError("%s already exists; key files are never overwritten: choose another name" % path)
    public, secret = zmq.auth.create_certificates(directory, name)
    os.chmod(secret, 0o600)
    return public, secret


def load_key_pair(secret_file: str, what: str) -> Tuple[bytes, bytes]:
    """(public, secret) from a NAME.key_secret file."""
    public, secret = _load(secret_file, what)
    if not secret:
        raise ConfigError("%s: %s holds no secret key; give the NAME.key_secret file" % (what, secret_file))
    return public, secret


def load_public_key(public_file: str, what: str) -> bytes:
    return _load(public_file, what)[0]


def _load(path: str, what: str):
    import zmq.auth

    try:
        return zmq.auth.load_certificate(path)
    except (OSError, ValueError) as error:
        raise ConfigError("%s: cannot read key file %s (%s); make one with `actanywhere keys create`"
                          % (what, path, error)) from None
