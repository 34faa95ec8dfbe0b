"""Helpers for the engine tests: a tiny real shot on disk, and an engine run as a real process on
127.0.0.1 that every test stops (SIGKILL as the last resort) whatever happens."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import OpenImageIO as oiio

from actanywhere.engine import config, shotspec
from actanywhere.engine.client import EngineClient
from actanywhere.engine.errors import EngineError
from actanywhere.engine.media.exr_write import write_exr
from shot_files import panning_plates

WIDTH, HEIGHT = 64, 36
START_TIMEOUT_S = 120.0


def make_shot(directory, frames=(1001, 1002, 1003, 1004)):
    """A 64x36 ACEScg plate, its roto matte and a PNG condition under `directory`."""
    directory = str(directory)
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(directory, "plate"), exist_ok=True)
    os.makedirs(os.path.join(directory, "roto"), exist_ok=True)
    plates = panning_plates(rng, len(frames), WIDTH, HEIGHT)
    for index, frame in enumerate(frames):
        plate = plates[index]
        write_exr(os.path.join(directory, "plate", "p.%04d.exr" % frame), plate, ("R", "G", "B"), colourspace="ACEScg")
        matte = np.zeros((HEIGHT, WIDTH), np.float32)
        matte[8:30, 10 + 6 * index:22 + 6 * index] = 1.0
        write_exr(os.path.join(directory, "roto", "m.%04d.exr" % frame), matte, ("A",))
    pixels = (rng.uniform(0, 1, (HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)
    buffer = oiio.ImageBuf(oiio.ImageSpec(WIDTH, HEIGHT, 3, oiio.UINT8))
    buffer.set_pixels(oiio.ROI(0, WIDTH, 0, HEIGHT), pixels)
    assert buffer.write(os.path.join(directory, "cond.png")), buffer.geterror()
    return directory


def spec_data(shot_dir, shot="sh010", frames="1001-1004", steps=1, out="out", comp=True, **extra):
    """A resolved spec's data, as a client sends it (resolved with the built-in config)."""
    data = {
        "shot": shot,
        "plate": os.path.join(shot_dir, "plate", "p.%04d.exr"),
        "matte": os.path.join(shot_dir, "roto", "m.####.exr"),
        "condition": os.path.join(shot_dir, "cond.png"),
        "frames": frames,
        "sampler": {"steps": steps, "guidance": 1.0},
        "colour": {"plate_colourspace": "ACEScg"},
        "output": {"template": os.path.join(shot_dir, out, "{version}", "{shot}_{pass}_{version}.####.exr"), "write_comp": comp},
    }
    data.update(extra)
    return shotspec.resolve(data, config.load(environ={}).config, source="test spec").to_data()


def published_frames(directory):
    """Frames under final names (what a Nuke Read would pick up): not hidden files, nor anything in a
    hidden (staging) folder."""
    found = []
    for _, folders, files in os.walk(str(directory)):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [name for name in files if name.endswith(".exr") and not name.startswith(".")]
    return sorted(found)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EngineProcess:
    """`actanywhere serve` in a subprocess."""

    def __init__(self, root, journal, port=None, extra=()):
        self.root, self.journal = str(root), str(journal)
        self.port = port or free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.extra = list(extra)
        self.process = None
        self.log_path = os.path.join(self.journal + "-engine-%d.log" % self.port)

    def start(self, wait_ready=True, client_options=None, preexec_fn=None):
        command = [sys.executable, "-m", "actanywhere.engine.cli", "serve", "--bind", self.endpoint,
                   "--device", "cpu", "--sandbox", self.root, "--journal", self.journal, "--drain", "20",
                   "--set", "engine.heartbeat_s=0.5"] + self.extra
        # One torch thread: on a shared 2-core machine more threads make tiny jobs slower, not faster.
        environment = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                                            preexec_fn=preexec_fn)
        if wait_ready:
            self.wait_ready(client_options)
        return self

    def client(self, **options):
        options.setdefault("timeout_s", 5.0)
        options.setdefault("retries", 2)
        options.setdefault("heartbeat_s", 0.5)
        return EngineClient(self.endpoint, **options)

    def wait_ready(self, client_options=None):
        """Until the engine answers and its worker has loaded the default profile."""
        deadline = time.monotonic() + START_TIMEOUT_S
        with self.client(timeout_s=2.0, retries=0, **(client_options or {})) as client:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, "engine exited: %s" % self.log()
                try:
                    info = client.hello()
                except EngineError:
                    continue
                if all(device["state"] in ("idle", "busy") and device["profiles"] for device in info["devices"]):
                    return info
                time.sleep(0.2)
        raise AssertionError("engine not ready after %gs: %s" % (START_TIMEOUT_S, self.log()))

    def worker_pid(self):
        with self.client() as client:
            return client.hello()["devices"][0]["pid"]

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as stream:
                return stream.read()[-4000:]
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, timeout=60):
        """SIGTERM, then SIGKILL; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


class InProcessEngine:
    """An EngineServer run in a thread of the test process, on a real loopback socket, with scripted
    workers (scripted_worker.py): for the engine's own fault handling, in seconds and without a model."""

    def __init__(self, root, journal=None, settings=None, devices=("cpu",), **options):
        import threading

        from actanywhere.engine import config as config_module
        from actanywhere.engine.service.server import EngineServer
        from scripted_worker import scripted_worker

        self.root = str(root)
        self.config = config_module.load(environ={}).config
        self.config.engine.heartbeat_s = 0.2
        for key, value in (settings or {}).items():
            setattr(self.config.engine, key, value)
        self.endpoint = "tcp://127.0.0.1:%d" % free_port()
        self.lines = []
        self.server = EngineServer(self.config, bind=self.endpoint, devices=list(devices),
                                   journal_dir=str(journal or tempfile.mkdtemp(prefix="journal-", dir=self.root)),
                                   sandbox_roots=[self.root], drain_s=2.0, log=self.lines.append,
                                   worker_target=scripted_worker, **options)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.failure = None

    def _run(self):
        try:
            self.server.run()
        except BaseException as error:  # the test sees it: the engine must never die
            self.failure = error
            raise

    def __enter__(self):
        self._thread.start()
        deadline = time.monotonic() + 30
        while not any(worker.state == "idle" for worker in self.server.workers):
            assert self.failure is None and time.monotonic() < deadline, "engine not ready: %s" % self.log()
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info):
        self.server.request_stop()
        self._thread.join(30)
        assert not self._thread.is_alive(), "engine did not stop: %s" % self.log()

    def client(self, user=None, **options):
        options.setdefault("timeout_s", 3.0)
        options.setdefault("retries", 0)
        options.setdefault("heartbeat_s", 0.2)
        client = EngineClient(self.endpoint, **options)
        if user is not None:
            client.user = user
        return client

    def alive(self):
        return self.failure is None and self._thread.is_alive()

    def log(self):
        return "\n".join(self.lines[-40:])
