"""Soak the engine: many clients, mixed valid, invalid and hostile traffic, workers and the engine killed.

    HF_HUB_OFFLINE=1 python benchmarks/engine_soak.py [--minutes 10 --clients 20]

A real `actanywhere serve` on 127.0.0.1 (one CPU worker, the tiny profile) and `--clients` client
processes, each its own user. Each client loops over:
- valid jobs (a 4-frame 64x36 shot, one step, its own output folder), resent under the same job id
  whenever an answer is lost, and waited for;
- invalid requests: a bad spec, a frame range past the cap, a path outside the sandbox, another
  client's job to cancel or read, a job id nobody has;
- hostile traffic: random bytes, 100,000-deep nesting, a 5 MB frame, a lone surrogate, and a socket
  that sends 200 requests and never reads;
- control requests (ping, status, jobs), timed.
Meanwhile the main process SIGKILLs the worker, SIGSTOPs it (the engine must see it hung) and SIGKILLs
the engine and starts it again on the same journal and port.

At the end every job a client was told was accepted is looked up: completed (done), failed by the
chaos (worker_died / worker_hung, each a visible failure), lost (unknown, or never final), doubled
(more than one version published for one job id); crashes are engine exits nobody caused. Prints the
figures, never asserts. Lost, doubled and crashes should be zero.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_bench import make_shot, percentile, spec_data  # noqa: E402  (one shot maker for the benchmarks)

CHAOS = ("kill_worker", "stop_worker", "kill_engine")


class Engine:
    """`actanywhere serve` as a subprocess that can be killed and started again on its port and journal."""

    def __init__(self, root, worker_timeout_s):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.root = root
        self.worker_timeout_s = worker_timeout_s
        self.process = None
        self.starts = 0
        self.log_path = os.path.join(root, "engine.log")

    def start(self):
        command = [sys.executable, "-m", "actanywhere.engine.cli", "serve", "--bind", self.endpoint,
                   "--device", "cpu", "--sandbox", self.root, "--journal", os.path.join(self.root, "journal"),
                   "--drain", "5", "--set", "engine.heartbeat_s=1",
                   "--set", "engine.worker_timeout_s=%g" % self.worker_timeout_s]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            env=dict(os.environ, OMP_NUM_THREADS="1"))
        self.starts += 1

    def info(self, timeout_s=2.0):
        from actanywhere.engine.client import EngineClient
        from actanywhere.engine.errors import EngineError

        try:
            with EngineClient(self.endpoint, timeout_s=timeout_s, retries=0) as client:
                return client.hello()
        except EngineError:
            return None

    def wait_ready(self, seconds=300):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            info = self.info()
            if info and all(device["state"] in ("idle", "busy") and device["profiles"] for device in info["devices"]):
                return info
            time.sleep(0.3)
        raise SystemExit("the engine did not get ready; see %s" % self.log_path)

    def worker_pid(self):
        info = self.info()
        return info["devices"][0]["pid"] if info else None


# -- the clients ------------------------------------------------------------------------------------
def client_main(index, endpoint, root, shot, deadline, results):
    from actanywhere.engine.client import EngineClient
    from actanywhere.engine.errors import EngineError, EngineUnavailableError

    rng = random.Random(index)
    user = "soak%02d" % index
    accepted, latencies, unexpected = [], [], []
    counts = {"valid": 0, "invalid": 0, "hostile": 0, "control": 0, "unavailable": 0}
    client = EngineClient(endpoint, timeout_s=5.0, retries=1, heartbeat_s=1.0)
    client.user = user
    sequence = 0

    def valid_job():
        nonlocal sequence
        sequence += 1
        job_id = "%s-%04d" % (user, sequence)
        data = spec_data(shot, 4, 1, os.path.join("out", job_id))
        data["shot"] = "soak"
        while time.monotonic() < deadline:  # resend the same id until the engine answers: never twice
            try:
                client.submit(data, job_id=job_id)
                accepted.append(job_id)
                break
            except EngineUnavailableError:
                counts["unavailable"] += 1
                time.sleep(1.0)
        else:
            return
        counts["valid"] += 1
        try:
            client.wait(job_id, timeout_s=max(1.0, min(60.0, deadline - time.monotonic())))
        except EngineError:
            counts["unavailable"] += 1

    def invalid_request():
        choice = rng.randrange(5)
        try:
            if choice == 0:
                client.submit(dict(spec_data(shot, 4, -1, "bad"), shot="soak"), job_id="%s-bad%d" % (user, rng.randrange(10 ** 6)))
            elif choice == 1:
                client.submit(dict(spec_data(shot, 4, 1, "bad"), frames="1-300000"))
            elif choice == 2:
                client.submit(dict(spec_data(shot, 4, 1, "bad"), condition="/etc/hosts"))
            elif choice == 3:
                other = "soak%02d-%04d" % ((index + 1) % 20, 1)
                client.cancel(other)
            else:
                client.result("nobody-%d" % rng.randrange(10 ** 6))
            unexpected.append("invalid request %d was accepted" % choice)
        except EngineUnavailableError:
            counts["unavailable"] += 1
        except EngineError as error:
            if error.code == "internal":
                unexpected.append("internal error: %s" % error)
        counts["invalid"] += 1

    def hostile():
        import zmq

        context = zmq.Context.instance()
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        choice = rng.randrange(5)
        payloads = {
            0: [os.urandom(rng.randrange(1, 2000))],
            1: [b'{"v":1,"kind":"ping","id":"x","a":' + b"[" * 100000 + b"]" * 100000 + b"}"],
            2: [b"x" * (5 * 1024 * 1024)],
            3: [json.dumps({"v": 1, "kind": "status", "id": "x", "job_id": "\ud800"}).encode()],
            4: [json.dumps({"v": 1, "kind": "ping", "id": str(n), "user": user}).encode() for n in range(200)],
        }[choice]
        for payload in payloads:
            try:
                sock.send(payload, zmq.NOBLOCK)
            except zmq.Again:
                break
        if choice in (0, 1, 3) and sock.poll(3000):
            reply = json.loads(sock.recv())
            if reply.get("code") == "internal":
                unexpected.append("internal error on hostile input %d: %s" % (choice, reply.get("message")))
        sock.close()  # choice 4 never read its 200 replies
        counts["hostile"] += 1

    def control():
        started = time.perf_counter()
        try:
            kind = rng.randrange(3)
            if kind == 0:
                client.ping()
            elif kind == 1 and accepted:
                client.status(accepted[-1])
            else:
                client.request("jobs", limit=50)
            latencies.append(time.perf_counter() - started)
        except EngineUnavailableError:
            counts["unavailable"] += 1
        except EngineError as error:
            unexpected.append("control request failed: %s: %s" % (error.code, error))
        counts["control"] += 1

    actions = [valid_job] * 2 + [invalid_request] * 2 + [hostile] + [control] * 5
    while time.monotonic() < deadline:
        rng.choice(actions)()
        time.sleep(rng.uniform(0.05, 0.3))
    client.close()
    results.put({"accepted": accepted, "latencies": latencies, "unexpected": unexpected[:20], "counts": counts})


# -- chaos and accounting ---------------------------------------------------------------------------
def chaos(engine, deadline, every_s, events, crashes):
    rng = random.Random(1)
    next_at = time.monotonic() + every_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if engine.process.poll() is not None:  # an exit nobody caused: a crash
            crashes.append(engine.process.returncode)
            engine.start()
            engine.wait_ready()
        if time.monotonic() < next_at:
            continue
        next_at = time.monotonic() + every_s * rng.uniform(0.7, 1.3)
        what = CHAOS[len(events) % len(CHAOS)]
        events.append(what)
        print("  chaos: %s" % what, flush=True)
        if what == "kill_engine":
            engine.process.kill()
            engine.process.wait()
            engine.start()
            engine.wait_ready()
            continue
        pid = engine.worker_pid()
        if pid:
            os.kill(pid, signal.SIGKILL if what == "kill_worker" else signal.SIGSTOP)


def published_versions(root, job_id):
    """The versions the job published: version folders with a record (staging folders are hidden)."""
    from actanywhere.engine.outputs import RECORD

    folder = os.path.join(root, "shot", "out", job_id)
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return {name for name in names if not name.startswith(".") and os.path.isfile(os.path.join(folder, name, RECORD))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--chaos-every", type=float, default=40.0, metavar="S", help="seconds between kills")
    parser.add_argument("--worker-timeout", type=float, default=10.0, metavar="S",
                        help="engine.worker_timeout_s: how soon a stopped worker is taken as hung")
    arguments = parser.parse_args(argv)
    root = os.path.realpath(tempfile.mkdtemp(prefix="engine_soak_"))
    engine = Engine(root, arguments.worker_timeout)
    try:
        make_shot(os.path.join(root, "shot"), 4, 64, 36)
        engine.start()
        engine.wait_ready()
        print("engine ready on %s; %d clients for %g minutes, chaos every ~%gs" % (
            engine.endpoint, arguments.clients, arguments.minutes, arguments.chaos_every), flush=True)
        started = time.monotonic()
        deadline = started + arguments.minutes * 60
        results = multiprocessing.get_context("spawn").Queue()
        clients = [multiprocessing.get_context("spawn").Process(
            target=client_main, args=(index, engine.endpoint, root, os.path.join(root, "shot"), deadline, results))
            for index in range(arguments.clients)]
        for process in clients:
            process.start()
        events, crashes = [], []
        progress_at = started + 60
        import threading

        chaos_thread = threading.Thread(target=chaos, args=(engine, deadline, arguments.chaos_every, events, crashes),
                                        daemon=True)
        chaos_thread.start()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if time.monotonic() >= progress_at:
                progress_at += 60
                info = engine.info(5.0)
                print("  %3.0f min: %d chaos events (%s), engine queue %s" % (
                    (time.monotonic() - started) / 60, len(events), ", ".join(events[-3:]),
                    info["queued"] if info else "down"), flush=True)
        reports = [results.get(timeout=120) for _ in clients]
        for process in clients:
            process.join(30)
        chaos_thread.join(120)
        accepted = [job_id for report in reports for job_id in report["accepted"]]
        print("traffic done: %d accepted jobs; draining the queue" % len(accepted), flush=True)

        from actanywhere.engine.client import EngineClient
        from actanywhere.engine.errors import EngineError

        final, drain_deadline = {}, time.monotonic() + 600
        with EngineClient(engine.endpoint, timeout_s=10, retries=3) as admin:  # the engine's own user: an admin
            while time.monotonic() < drain_deadline:
                for job_id in accepted:
                    if job_id in final:
                        continue
                    try:
                        record = admin.status(job_id)
                    except EngineError as error:
                        if error.code == "unknown_job":
                            final[job_id] = {"state": "lost"}
                        continue
                    if record["state"] in ("done", "failed", "cancelled"):
                        final[job_id] = record
                if len(final) == len(accepted):
                    break
                time.sleep(2.0)
        if engine.process.poll() is not None:
            crashes.append(engine.process.returncode)
        states, examples = {}, {}
        for job_id in accepted:
            record = final.get(job_id, {"state": "stuck"})
            code = (record.get("error") or {}).get("code")
            key = record["state"] if record["state"] != "failed" else "failed (%s)" % code
            states[key] = states.get(key, 0) + 1
            if code:
                examples.setdefault(code, (record.get("error") or {}).get("message", "")[:300])
        lost = states.get("lost", 0) + states.get("stuck", 0)
        doubled = sum(1 for job_id in accepted if len(published_versions(root, job_id)) > 1)
        latencies = [value for report in reports for value in report["latencies"]]
        counts = {}
        for report in reports:
            for key, value in report["counts"].items():
                counts[key] = counts.get(key, 0) + value
        unexpected = [line for report in reports for line in report["unexpected"]]
        chaos_counts = {what: events.count(what) for what in CHAOS}
        print()
        print("minutes                 %g" % arguments.minutes)
        print("clients                 %d" % arguments.clients)
        print("requests                %s" % ", ".join("%s %d" % item for item in sorted(counts.items())))
        print("chaos                   %s" % ", ".join("%s %d" % item for item in sorted(chaos_counts.items())))
        print("jobs accepted           %d" % len(accepted))
        print("jobs completed          %d" % states.get("done", 0))
        print("jobs failed, visibly    %s" % (", ".join("%s %d" % (key, value) for key, value in sorted(states.items())
                                                        if key.startswith("failed")) or "0"))
        for code, message in sorted(examples.items()):
            print("  e.g. %s: %s" % (code, message))
        print("jobs lost               %d" % lost)
        print("jobs doubled            %d" % doubled)
        print("engine crashes          %d" % len(crashes))
        if latencies:
            print("control latency         p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (%d requests answered)" % (
                1000 * percentile(latencies, 0.5), 1000 * percentile(latencies, 0.95),
                1000 * percentile(latencies, 0.99), len(latencies)))
        print("unexpected answers      %d%s" % (len(unexpected), "".join("\n  " + line for line in unexpected[:10])))
    finally:
        if engine.process is not None and engine.process.poll() is None:
            engine.process.send_signal(signal.SIGTERM)
            try:
                engine.process.wait(60)
            except subprocess.TimeoutExpired:
                engine.process.kill()
        if os.environ.get("KEEP_SOAK") != "1":
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("kept %s" % root)


if __name__ == "__main__":
    main()
