"""The engine's socket front end: one ZeroMQ ROUTER, optionally CurveZMQ with a reloadable allow-list.

It never lets one client stall or crash the engine:
- a small send high-water mark per client, and ROUTER_MANDATORY, so a send to a client that is gone
  or never reads fails at once (`send` returns False) instead of queueing without end;
- a short handshake timeout, so connections that never speak (a flood of idle TCP connections, each
  holding a file descriptor) are dropped;
- the soft file-descriptor limit raised to the hard one at start.
"""
from __future__ import annotations

import errno
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import zmq

from .. import protocol
from ..errors import EngineError
from ..protocol import ProtocolError
from .clients import AllowList, secret_key_warning

SEND_HWM = 100  # messages queued per client; replies and events beyond it are dropped for that client
HANDSHAKE_S = 10.0  # a connection that has not completed its ZMTP (and Curve) greeting by then is closed
MAX_READS = 1000  # requests read per loop turn, so workers are never starved by a flood


class FrontEnd:
    def __init__(self, bind: str, log: Callable[[str], None], secret_key: Optional[str] = None,
                 allow_list: Optional[AllowList] = None):
        self.bind = bind
        self.allow_list = allow_list
        self._secret_key = secret_key
        self._log = log
        self._context = None
        self._authenticator = None
        self.socket = None  # type: Optional[zmq.Socket]

    @property
    def curve(self) -> bool:
        return self.allow_list is not None

    def open(self) -> None:
        raise_descriptor_limit(self._log)
        self._context = zmq.Context()
        socket = self._context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, protocol.TRANSPORT_MAX_BYTES)
        socket.setsockopt(zmq.SNDHWM, SEND_HWM)
        socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        socket.setsockopt(zmq.HANDSHAKE_IVL, int(HANDSHAKE_S * 1000))
        if self.curve:
            from zmq.auth.thread import ThreadAuthenticator

            from .keys import load_key_pair

            public, secret = load_key_pair(self._secret_key, "engine.server_secret_key")
            warning = secret_key_warning(self._secret_key)
            if warning:
                self._log("warning: " + warning)
            self._authenticator = ThreadAuthenticator(self._context)
            self._authenticator.start()
            self._authenticator.configure_curve_callback(domain="*", credentials_provider=self.allow_list)
            socket.curve_server = True
            socket.curve_publickey = public
            socket.curve_secretkey = secret
        try:
            socket.bind(self.bind)
        except zmq.ZMQError as error:
            socket.close()
            raise EngineError("cannot bind %s: %s; is another engine running there?" % (self.bind, error), "bind")
        self.socket = socket

    def requests(self) -> Iterator[Tuple[bytes, Optional[str], List[bytes]]]:
        """(identity, CurveZMQ user id or None, payload frames) of each request waiting, MAX_READS at most."""
        for _ in range(MAX_READS):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            user_id = None
            if self.curve:
                try:
                    user_id = frames[-1].get("User-Id")
                except (zmq.ZMQError, AttributeError):
                    user_id = None
            yield frames[0].bytes, user_id, [frame.bytes for frame in frames[1:]]

    def send(self, identity: bytes, message: Dict[str, Any]) -> bool:
        """Send without ever blocking; False when the client is gone or not reading (its queue is full)."""
        try:
            raw = protocol.encode(message)
        except ProtocolError as error:
            raw = protocol.encode(protocol.error_message(error.code, str(error), message.get("re")))
        try:
            self.socket.send_multipart([identity, raw], zmq.NOBLOCK)
        except zmq.Again:
            return False
        except zmq.ZMQError as error:
            if error.errno == errno.EHOSTUNREACH:
                return False
            raise
        return True

    def reload_keys(self) -> None:
        if self.curve:
            self.allow_list.load(strict=False)
            self._log("allow-list: %d client keys from %s (%s)" % (len(self.allow_list.names()),
                                                                   self.allow_list.directory,
                                                                   ", ".join(self.allow_list.names()) or "none"))

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
        if self._authenticator is not None:
            self._authenticator.stop()
        if self._context is not None:
            self._context.term()


def raise_descriptor_limit(log: Callable[[str], None]) -> None:
    """Every connection holds a descriptor: take the hard limit the host allows (systemd: LimitNOFILE)."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    if soft < 4096:
        log("warning: this process may hold %d open files; every client connection takes one: raise the "
            "limit (systemd LimitNOFILE=65536, or ulimit -n)" % soft)

