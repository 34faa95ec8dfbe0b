"""Media I/O throughput against oiiotool doing the same work.

Writes a 2048x1080 half RGBA zip EXR sequence to a temporary folder, then times
  (a) the project: read_sequence -> ColourTransform(ACEScg -> sRGB, clamped) -> write_exr (half, zip)
  (b) one oiiotool process over the same frames (frame-range syntax), same conversion and clamp,
and prints both wall times and their ratio (target: project <= 1.2x oiiotool).

    .venv/bin/python benchmarks/io_bench.py [--frames 48] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from actanywhere.engine.media import ColourTransform, read_sequence, write_exr
from actanywhere.engine.sequence import FrameSequence

WIDTH, HEIGHT = 2048, 1080
FIRST_FRAME = 1001
SOURCE_SPACE, TARGET_SPACE = "ACEScg", "sRGB Encoded Rec.709 (sRGB)"


def make_plates(folder: str, frames: int) -> FrameSequence:
    """Smooth gradients plus grain, so zip compresses them about as well as a real plate."""
    sequence = FrameSequence.parse(os.path.join(folder, "plate.####.exr"))
    generator = np.random.default_rng(0)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    base = np.stack([x / WIDTH, y / HEIGHT, (x + y) / (WIDTH + HEIGHT), np.ones_like(x)], axis=2)
    for index in range(frames):
        grain = generator.normal(0, 0.02, (HEIGHT, WIDTH, 4)).astype(np.float32)
        grain[:, :, 3] = 0
        write_exr(sequence.path(FIRST_FRAME + index), base * (0.5 + index / frames) + grain, "RGBA")
    return sequence


def run_project(source: FrameSequence, folder: str, frames: range, threads: int) -> float:
    target = FrameSequence.parse(os.path.join(folder, "project.####.exr"))
    transform = ColourTransform(SOURCE_SPACE, TARGET_SPACE, "ocio://default")
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as writers:
        pending = []
        for frame, pixels, info in read_sequence(source, frames, workers=threads, prefetch=threads):
            pending.append(writers.submit(
                lambda f, p, names: write_exr(target.path(f), transform.apply(p), names,
                                              colourspace=TARGET_SPACE),
                frame, pixels, info.channel_names))
            # Keep at most `threads` frames waiting to be written, so memory stays bounded.
            while len(pending) > threads:
                pending.pop(0).result()
        for future in pending:
            future.result()
    return time.perf_counter() - start


def run_oiiotool(source: FrameSequence, folder: str, frames: range, threads: int,
                 parallel_frames: bool) -> float:
    oiiotool = shutil.which("oiiotool") or os.path.join(os.path.dirname(sys.executable), "oiiotool")
    frame_range = "%d-%d" % (frames[0], frames[-1])
    command = [oiiotool, "--threads", str(threads)] + (["--parallel-frames"] if parallel_frames else []) + [
        "--frames", frame_range, source.as_printf(),  # oiiotool reads "#" as four digits
        "--colorconvert", SOURCE_SPACE, TARGET_SPACE, "--clamp:min=0:max=1",
        "-d", "half", "--compression", "zip", "-o", os.path.join(folder, "oiiotool.%04d.exr"),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    frames = range(FIRST_FRAME, FIRST_FRAME + args.frames)
    with tempfile.TemporaryDirectory(prefix="io_bench_") as folder:
        print("writing %d frames of %dx%d half RGBA zip ..." % (args.frames, WIDTH, HEIGHT))
        source = make_plates(folder, args.frames)
        # Flush dirty pages before each run, so no run pays for the previous one's write-back.
        os.sync()
        project = run_project(source, folder, frames, args.threads)
        os.sync()
        oiiotool = run_oiiotool(source, folder, frames, args.threads, parallel_frames=False)
        os.sync()
        oiiotool_parallel = run_oiiotool(source, folder, frames, args.threads, parallel_frames=True)
        print("threads %s, %d frames, %s -> %s" % (args.threads, args.frames, SOURCE_SPACE, TARGET_SPACE))
        print("project                    %7.2f s  %6.1f frames/s" % (project, args.frames / project))
        print("oiiotool                   %7.2f s  %6.1f frames/s" % (oiiotool, args.frames / oiiotool))
        print("oiiotool --parallel-frames %7.2f s  %6.1f frames/s" % (
            oiiotool_parallel, args.frames / oiiotool_parallel))
        print("ratio project/oiiotool %.2fx, project/oiiotool --parallel-frames %.2fx (target <= 1.2x)"
              % (project / oiiotool, project / oiiotool_parallel))


if __name__ == "__main__":
    main()
