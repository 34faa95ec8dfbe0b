"""What the engine adds to a job, and how fast it answers control messages under load.

    HF_HUB_OFFLINE=1 python benchmarks/engine_bench.py [--frames 8 --size 128x72 --steps 4 --runs 3 --clients 20]

1. The same shot run in-process with the model already loaded (generate_shot with a warm pipeline)
   versus submitted to a warm engine (`actanywhere serve` on 127.0.0.1, one CPU worker, the profile
   preloaded), timed from submit to the client seeing the final state. Target: the engine adds <= 5%.
2. Control-message latency (submit, status, jobs) with `--clients` client processes submitting small
   jobs and polling their status, as p50/p99.
Prints figures, never asserts. Runs on the CPU with the tiny profile unless --device says otherwise.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_shot(directory, frames, width, height):
    import numpy as np
    import OpenImageIO as oiio

    from actanywhere.engine.media.exr_write import write_exr

    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(directory, "plate"))
    os.makedirs(os.path.join(directory, "roto"))
    # A camera panning a pixel a frame across noise: a move the tracker follows (noise drawn anew each
    # frame would be a cut at every frame, which generate refuses).
    canvas = rng.uniform(0.0, 0.8, (height, width + frames, 3)).astype(np.float32)
    for index in range(frames):
        frame = 1001 + index
        plate = np.ascontiguousarray(canvas[:, index:index + width])
        write_exr(os.path.join(directory, "plate", "p.%04d.exr" % frame), plate, ("R", "G", "B"), colourspace="ACEScg")
        matte = np.zeros((height, width), np.float32)
        left = (index * width // (2 * frames)) + width // 8
        matte[height // 5: 4 * height // 5, left: left + width // 5] = 1.0
        write_exr(os.path.join(directory, "roto", "m.%04d.exr" % frame), matte, ("A",))
    buffer = oiio.ImageBuf(oiio.ImageSpec(width, height, 3, oiio.UINT8))
    buffer.set_pixels(oiio.ROI(0, width, 0, height), (rng.uniform(0, 1, (height, width, 3)) * 255).astype(np.uint8))
    buffer.write(os.path.join(directory, "cond.png"))


def spec_data(directory, frames, steps, out):
    return {
        "shot": "bench",
        "plate": os.path.join(directory, "plate", "p.%04d.exr"),
        "matte": os.path.join(directory, "roto", "m.####.exr"),
        "condition": os.path.join(directory, "cond.png"),
        "frames": "1001-%d" % (1000 + frames),
        "sampler": {"steps": steps},
        "colour": {"plate_colourspace": "ACEScg"},
        "output": {"template": os.path.join(directory, out, "{version}", "{shot}_{pass}_{version}.####.exr")},
    }


def in_process_runner(directory, arguments, config):
    """A function that runs the shot once in this process with the model kept loaded; warmed up."""
    from actanywhere.engine import shotspec
    from actanywhere.engine.generate import generate_shot, load_pipeline

    spec = shotspec.resolve(spec_data(directory, arguments.frames, arguments.steps, "inprocess"), config)
    pipeline = load_pipeline(spec.model, config, log=lambda text: None)

    def run():
        started = time.perf_counter()
        generate_shot(spec, config, log=lambda text: None, pipeline=pipeline)
        return time.perf_counter() - started

    run()
    return run


def start_engine(root, arguments):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = "tcp://127.0.0.1:%d" % port
    log = open(os.path.join(root, "engine.log"), "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "actanywhere.engine.cli", "serve", "--bind", endpoint, "--device", arguments.device,
         "--sandbox", root, "--journal", os.path.join(root, "journal"), "--set", "engine.heartbeat_s=1"],
        stdout=log, stderr=subprocess.STDOUT)
    from actanywhere.engine.client import EngineClient
    from actanywhere.engine.errors import EngineError

    deadline = time.monotonic() + 300
    with EngineClient(endpoint, timeout_s=2, retries=0) as client:
        while time.monotonic() < deadline:
            try:
                info = client.hello()
                if all(device["state"] == "idle" and device["profiles"] for device in info["devices"]):
                    return process, endpoint
            except EngineError:
                pass
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the engine did not start; see %s" % os.path.join(root, "engine.log"))


def engine_runner(directory, endpoint, arguments, client):
    """A function that submits the shot to the engine and waits for it; returns (client-side seconds,
    the worker's own seconds); warmed up."""
    data = spec_data(directory, arguments.frames, arguments.steps, "engine")

    def run():
        started = time.perf_counter()
        job_id = client.submit(data, watch=True)
        record = client.wait(job_id, timeout_s=600, on_event=lambda job, event: None)
        elapsed = time.perf_counter() - started
        assert record["state"] == "done", record
        return elapsed, record["finished"] - record["started"]

    run()
    return run


def latency_client(endpoint, directory, seconds, index, results):
    from actanywhere.engine.client import EngineClient

    data = spec_data(directory, 1, 1, "latency")
    data["frames"] = "1001"
    data["shot"] = "lat%02d" % index
    latencies = {"submit": [], "status": [], "jobs": []}
    deadline = time.monotonic() + seconds
    with EngineClient(endpoint, timeout_s=10, retries=3) as client:
        job_id = None
        polls = 0
        while time.monotonic() < deadline:
            polls += 1
            started = time.perf_counter()
            if job_id is None:
                job_id = client.submit(data)
                kind = "submit"
            elif polls % 10 == 0:
                client.jobs()
                kind = "jobs"
            else:
                if client.status(job_id)["state"] in ("done", "failed", "cancelled"):
                    job_id = None
                kind = "status"
            latencies[kind].append(time.perf_counter() - started)
            time.sleep(0.02)
        if job_id is not None:
            client.cancel(job_id)
    results.put(latencies)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", default="128x72", help="plate WIDTHxHEIGHT")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the latency run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads, in-process and in the engine's worker (OMP_NUM_THREADS; default 1: "
                             "on a shared machine more threads make both timings noisy)")
    arguments = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(arguments.threads)  # before torch loads, here and in the engine
    width, height = (int(value) for value in arguments.size.split("x"))

    from actanywhere.engine import config as config_module
    from actanywhere.engine.model.profile_files import UntrainedModelWarning

    warnings.simplefilter("ignore", UntrainedModelWarning)
    root = os.path.realpath(tempfile.mkdtemp(prefix="engine_bench_"))
    process = None
    try:
        directory = os.path.join(root, "shot")
        make_shot(directory, arguments.frames, width, height)
        config = config_module.load(overrides=["models.device=%s" % arguments.device]).config
        print("shot: %d frames %dx%d, %d steps, device %s, %d torch threads, %d CPU cores"
              % (arguments.frames, width, height, arguments.steps, arguments.device, arguments.threads, os.cpu_count()))

        from actanywhere.engine.client import EngineClient

        run_local = in_process_runner(directory, arguments, config)
        process, endpoint = start_engine(root, arguments)
        local, through_engine, on_worker = [], [], []
        with EngineClient(endpoint, timeout_s=10, heartbeat_s=1.0) as client:
            run_engine = engine_runner(directory, endpoint, arguments, client)
            for _ in range(arguments.runs):  # alternated, so a change in the machine's load hits both
                local.append(run_local())
                seconds, worker_seconds = run_engine()
                through_engine.append(seconds)
                on_worker.append(worker_seconds)
        local_median, engine_median = statistics.median(local), statistics.median(through_engine)
        dispatch = statistics.median([total - worker for total, worker in zip(through_engine, on_worker)])
        print("in-process, model loaded:  median %.3fs  runs %s" % (local_median, _list(local)))
        print("through the warm engine:   median %.3fs  runs %s" % (engine_median, _list(through_engine)))
        print("engine overhead: %+.1f%% of the job (%+.3fs; target <= 5%%); of which submit, queue, dispatch, "
              "events and result, outside the worker's run: median %.1f ms"
              % (100.0 * (engine_median / local_median - 1.0), engine_median - local_median, 1000 * dispatch))

        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        clients = [context.Process(target=latency_client, args=(endpoint, directory, arguments.seconds, index, results))
                   for index in range(arguments.clients)]
        for client in clients:
            client.start()
        merged = {"submit": [], "status": [], "jobs": []}
        for _ in clients:
            for kind, values in results.get(timeout=arguments.seconds + 120).items():
                merged[kind] += values
        for client in clients:
            client.join(30)
        everything = [value for values in merged.values() for value in values]
        print("control latency, %d clients submitting and polling for %gs (%d requests):"
              % (arguments.clients, arguments.seconds, len(everything)))
        for kind, values in list(merged.items()) + [("all", everything)]:
            if values:
                print("  %-7s n=%-5d p50 %6.1f ms   p99 %6.1f ms" % (
                    kind, len(values), 1000 * percentile(values, 0.5), 1000 * percentile(values, 0.99)))
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(root, ignore_errors=True)


def _list(values):
    return "[" + ", ".join("%.3f" % value for value in values) + "]"


if __name__ == "__main__":
    main()
