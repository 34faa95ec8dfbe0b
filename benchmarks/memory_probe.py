"""Peak memory of single calls on the CPU, for the backbones' memory estimates (wan_memory.py,
unet_memory.py): each call runs in a child process that reports the resident memory the call reaches
above what the process held before it (Linux's VmHWM, reset through /proc/self/clear_refs), and the
parent fits lines through the measurements. Prints, never asserts.

A script using it defines point functions (a point is a dict with a "kind"; its function returns the
measured figures), the points to measure, their fit, the estimates and their report, and hands them to
`main`: the same command line for every backbone (--plate, --frames, --tiny, --json, --fits).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

GIB = 2 ** 30
MIB = 2 ** 20
# glibc serves allocations below its (self-raising) mmap threshold from heaps it keeps after free: the
# resident peak would then count freed blocks. A fixed threshold maps every large tensor and unmaps it.
WORKER_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def _status(field: str) -> int:
    with open("/proc/self/status") as stream:
        return int(re.search(r"%s:\s+(\d+) kB" % field, stream.read()).group(1)) * 1024


def peak_above_now(run: Callable[[], object]) -> int:
    """Bytes of resident memory `run()` reaches above what the process holds before it."""
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as stream:
        stream.write("5")  # resets VmHWM to the current resident size
    run()
    return _status("VmHWM") - before


def run_worker(measures: Dict[str, Callable[[dict], dict]], warm_ups: Sequence[dict], points: List[dict]) -> None:
    """The child process: each point's figures as a JSON line on stdout."""
    # The process's first calls allocate what it keeps (kernels, thread pools): not any call's activations.
    for warm_up in warm_ups:
        measures[warm_up["kind"]](warm_up)
    for point in points:
        started = time.perf_counter()
        result = measures[point["kind"]](point)
        print(json.dumps(dict(point, seconds=round(time.perf_counter() - started, 1), **result)), flush=True)


def measure(script: str, points: List[dict]) -> List[dict]:
    """Runs `script --worker POINTS` in a child process, printing each point as it comes (minutes)."""
    here = os.path.dirname(os.path.abspath(__file__))
    environment = dict(os.environ, **WORKER_ENVIRONMENT)
    environment["PYTHONPATH"] = os.pathsep.join([here] + [p for p in [environment.get("PYTHONPATH")] if p])
    process = subprocess.Popen([sys.executable, os.path.abspath(script), "--worker", json.dumps(points)],
                               stdout=subprocess.PIPE, text=True, env=environment)
    results = []
    for line in process.stdout:
        result = json.loads(line)
        results.append(result)
        figure = result.get("bytes", result.get("encode_bytes", 0))
        print("  [%d/%d] %-11s %-14s %s: %8.1f MiB  (%.1f s)" % (
            len(results), len(points), result["kind"], result["config"],
            result.get("latent") or result.get("pixels"), figure / MIB, result["seconds"]), flush=True)
    if process.wait() != 0:
        raise SystemExit("the measuring process failed (exit %d): see its error above" % process.returncode)
    return results


def linear_fit(x, y) -> Dict[str, float]:
    """Least squares y = intercept + slope x, and the largest residual relative to y."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.max(np.abs(intercept + slope * x - y) / np.maximum(np.abs(y), 1.0)))
    return {"intercept": float(intercept), "slope": float(slope), "residual": residual}


def main(argv: Optional[List[str]], script: str, doc: str, measures: Dict[str, Callable[[dict], dict]],
         warm_ups: Sequence[dict], plan_points: Callable[[bool], List[dict]], fit: Callable[[List[dict]], dict],
         estimates: Callable[[dict, int, int, int, bool], List[dict]], report: Callable[[dict, List[dict]], None]) -> dict:
    """A memory script's command line: measure (in a child process) or read an earlier run's fits,
    estimate the plate, print, optionally write JSON. `estimates(fits, width, height, frames, tiny)`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--plate", default="1920x1080", help="WxH of the plate the refinement runs at")
    parser.add_argument("--frames", type=int, default=81, help="frames of the shot")
    parser.add_argument("--tiny", action="store_true", help="tiny configs (a smoke run of the script)")
    parser.add_argument("--json", help="also write the measurements, fits and estimates to this file")
    parser.add_argument("--fits", help="estimate from the fits of an earlier --json run, measuring nothing")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(measures, warm_ups, json.loads(args.worker))
        return {}
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # gpu_check's model builders
    if args.fits:
        with open(args.fits) as stream:
            earlier = json.load(stream)
        results, fits = earlier["measurements"], earlier["fits"]
    else:
        points = plan_points(args.tiny)
        print("measuring %d points on the CPU%s" % (len(points), " (tiny configs)" if args.tiny else ""), flush=True)
        results = measure(script, points)
        fits = fit(results)
    width, height = (int(value) for value in args.plate.lower().split("x"))
    rows = estimates(fits, width, height, args.frames, args.tiny)
    report(fits, rows)
    summary = {"measurements": results, "fits": fits, "estimates": rows}
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(summary, stream, indent=2)
    return summary
