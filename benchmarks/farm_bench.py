"""What a sticky engine per worker saves on the farm: the same 8 shot variants through the local backend,
once with one engine per worker (the model loads once per worker session, as OpenJD step environments
do) and once with a fresh process per task (each task imports torch and loads the model itself).

    HF_HUB_OFFLINE=1 python benchmarks/farm_bench.py [--variants 8 --workers 1 --frames 4 --size 64x36 --steps 1]

Prints both wall times and their ratio, never asserts. CPU and the tiny profile unless --device says otherwise.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


from actanywhere.engine import config as config_module  # noqa: E402
from actanywhere.farm import job as job_module  # noqa: E402
from actanywhere.farm.backends.local import run_job  # noqa: E402
from actanywhere.farm.submit import prepare  # noqa: E402


def make_job(root: str, variants: int, frames: int, width: int, height: int, steps: int, label: str, config):
    import engine_support  # the tests' tiny EXR shot writer

    engine_support.WIDTH, engine_support.HEIGHT = width, height
    shot_dir = os.path.join(root, "shot")
    if not os.path.isdir(shot_dir):
        engine_support.make_shot(shot_dir, frames=tuple(range(1001, 1001 + frames)))
    spec = engine_support.spec_data(shot_dir, shot="bench", frames="1001-%d" % (1000 + frames), steps=steps,
                                    out=os.path.join(root, "out_" + label))
    data = {"name": "bench_" + label, "shots": [{"spec": spec}], "variants": {"seeds": list(range(variants))}}
    job = job_module.expand_data(data, config)
    prepare(job, config, "local", job_dir=os.path.join(root, "job_" + label))
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", default="64x36")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    arguments = parser.parse_args()
    width, height = (int(value) for value in arguments.size.split("x"))
    overrides = ["farm.worker_device=%s" % arguments.device, "models.device=%s" % arguments.device]
    config = config_module.load(overrides=overrides).config
    passed = [item for override in overrides for item in ("--set", override)]
    root = tempfile.mkdtemp(prefix="actanywhere_farm_bench_")
    try:
        times = {}
        for label, sticky in (("sticky", True), ("fresh", False)):
            job = make_job(root, arguments.variants, arguments.frames, width, height, arguments.steps, label, config)
            started = time.perf_counter()
            run_job(job, config, passed, workers=arguments.workers, sticky=sticky, log=lambda text: None)
            times[label] = time.perf_counter() - started
        print("%d shot variants (%d frames %dx%d, %d steps), %d local worker(s), device %s"
              % (arguments.variants, arguments.frames, width, height, arguments.steps, arguments.workers, arguments.device))
        print("sticky engine per worker: %7.1f s  (%.2f s per variant)" % (times["sticky"], times["sticky"] / arguments.variants))
        print("fresh process per task:   %7.1f s  (%.2f s per variant)" % (times["fresh"], times["fresh"] / arguments.variants))
        print("ratio fresh / sticky:     %7.2fx" % (times["fresh"] / times["sticky"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
