"""Wall time and peak resident memory of tiled, windowed inference over plate sizes and shot lengths.

    HF_HUB_OFFLINE=1 python benchmarks/tiling_bench.py                       # this CPU: see below
    HF_HUB_OFFLINE=1 python benchmarks/tiling_bench.py --unet real --vae real --steps 20 --device cuda

Each configuration runs in its own process (peak resident memory is a per-process figure) through the
same path as `generate`: plate frames made and streamed one at a time, the global pass at the model's
native pixel count, the refinement's shot state in scratch files, frames decoded one at a time.

On a 2-core CPU the tiny model's real U-Net and VAE make a 2048x1080x96 run take hours, so the default
grid swaps them for stand-ins of the same call shapes (`--unet constant`: a constant noise prediction;
`--vae pool`: average-pool encode, nearest decode): what it measures is the tiling machinery's time and
memory scaling, not the model's. `--timing` adds real-U-Net runs (1 step, guidance 1, pooled VAE) on the
sizes this CPU can afford, for the U-Net's share and the overhead against the grid's overlap factor.
Prints, never asserts. Wall time on a shared machine follows its load; the CPU seconds of the process
(`cpu s`, summed over its threads) follow the work.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from types import SimpleNamespace

import numpy as np

SIZES = ("512x288", "1024x576", "2048x1080")
FRAMES = (16, 48, 96)


# -- stand-ins of the same call shapes ------------------------------------------------------------------
def constant_unet(real):
    import torch

    class ConstantUNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
            self.config = real.config

        @property
        def device(self):
            return self.anchor.device

        @property
        def dtype(self):
            return self.anchor.dtype

        def forward(self, sample, timestep, encoder_hidden_states=None, **kwargs):
            batch, _, frames, height, width = sample.shape
            assert encoder_hidden_states.shape[0] == batch * frames
            return SimpleNamespace(sample=torch.full((batch, 4, frames, height, width), 0.1, dtype=sample.dtype))

    return ConstantUNet()


def pooled_vae(real):
    import torch
    import torch.nn.functional as F

    factor = 2 ** (len(real.config.block_out_channels) - 1)

    class PooledVAE:
        config = real.config

        def encode(self, pixels):
            pooled = F.avg_pool2d(pixels, factor)
            latent = torch.cat([pooled, pooled.mean(1, keepdim=True)], 1)
            return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: latent))

        def decode(self, latents):
            return SimpleNamespace(sample=F.interpolate(latents[:, :3], scale_factor=factor, mode="nearest"))

    return PooledVAE()


# -- one configuration --------------------------------------------------------------------------------
def plate_frame(width, height, index, frames):
    """A gradient plate with a moving box subject, made on the fly: no shot-sized pixel array."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([xs / width, ys / height, np.full_like(xs, 0.5)], -1)
    matte = np.zeros((height, width), np.float32)
    left = int((0.2 + 0.5 * index / max(1, frames - 1)) * width)
    matte[height // 4: 3 * height // 4, left: left + width // 8] = 1
    return rgb, matte


def run_one(args) -> dict:
    import torch

    from actanywhere.engine.media.resize import resize_image
    from actanywhere.engine.model.pipeline import ActAnywherePipeline
    from actanywhere.engine.model.refine import PlateRefiner, TilingPlan
    from actanywhere.engine.model.profile_files import UntrainedModelWarning
    from actanywhere.engine.settings import TilingSettings

    torch.set_num_threads(args.threads or torch.get_num_threads())
    width, height = (int(v) for v in args.size.split("x"))
    frames = args.frames
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        pipe = ActAnywherePipeline.from_profile(args.profile, path=args.path, device=args.device)
    if args.unet == "constant":
        pipe.model.unet = constant_unet(pipe.model.unet).to(pipe.device)
    if args.vae == "pool":
        pipe.model.vae = pooled_vae(pipe.model.vae)
    unet_seconds = []
    sync = torch.cuda.synchronize if pipe.device.type == "cuda" else (lambda: None)
    original = pipe.model.unet.forward

    def timed(*a, **k):
        sync()
        start = time.perf_counter()
        out = original(*a, **k)
        sync()
        unet_seconds.append(time.perf_counter() - start)
        return out

    pipe.model.unet.forward = timed
    plan = TilingPlan.from_settings(TilingSettings(tile_size=args.tile_size, tile_overlap=args.tile_overlap,
                                                   window_frames=args.window_frames, window_overlap=args.window_overlap,
                                                   refine_strength=args.strength, tile_batch=args.tile_batch), pipe)
    factor = pipe.vae_scale_factor
    area = pipe.profile.native_width * pipe.profile.native_height
    aspect = width / height
    working = (max(factor, round((area * aspect) ** 0.5 / factor) * factor),
               max(factor, round((area / aspect) ** 0.5 / factor) * factor))
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    cpu_started = time.process_time()
    with tempfile.TemporaryDirectory(prefix="tiling_bench_") as scratch:
        refiner = PlateRefiner(pipe, frames, width, height, plan, scratch)
        small_fg = np.empty((frames, working[1], working[0], 3), np.float32)
        small_matte = np.empty((frames, working[1], working[0]), np.float32)
        for index in range(frames):
            rgb, matte = plate_frame(width, height, index, frames)
            small_fg[index] = np.clip(resize_image(rgb, *working), 0, 1)
            small_matte[index] = np.clip(resize_image(matte, *working, "box"), 0, 1)
            refiner.add_input(index, rgb, matte)
        read_done = time.perf_counter()
        condition = np.full((64, 64, 3), 0.5, np.float32)
        global_frames = pipe(small_fg, small_matte, condition, steps=args.steps, guidance_scale=args.guidance,
                             seed=0, window_frames=plan.window_frames, window_overlap=plan.window_overlap)
        global_unet = sum(unet_seconds)
        global_done = time.perf_counter()
        for index in range(frames):
            refiner.add_init(index, np.clip(resize_image(global_frames[index], width, height), 0, 1))
        init_done = time.perf_counter()
        before_refine = len(unet_seconds)
        # strength 1 over `steps` steps: every refinement step is measured (the default 0.4 keeps fewer)
        refiner.run(global_frames, pipe.encode_condition(condition), args.steps, args.guidance, "ddim", 0,
                     condition=condition)
        refine_done = time.perf_counter()
        refine_unet = sum(unet_seconds[before_refine:])
        checksum = 0.0
        for index in range(frames):
            checksum += float(refiner.frame(index)[::64, ::64].sum())
        decode_done = time.perf_counter()
        cpu_seconds = time.process_time() - cpu_started
        grid = refiner.grid
        refiner.close()
    return {
        "size": args.size, "frames": frames, "unet": args.unet, "vae": args.vae, "steps": args.steps,
        "device": str(pipe.device), "latent": "%dx%d" % (refiner.latent_width, refiner.latent_height),
        "tile": plan.tile, "tile_overlap": plan.tile_overlap, "window": plan.window_frames,
        "window_overlap": plan.window_overlap, "tiles": grid.tile_count, "windows": grid.window_count,
        "overlap_factor": round(grid.overlap_factor, 3), "unet_calls_refine": len(unet_seconds) - before_refine,
        "seconds": {"read_encode": round(read_done - started, 2), "global": round(global_done - read_done, 2),
                    "init_encode": round(init_done - global_done, 2), "refine": round(refine_done - init_done, 2),
                    "decode": round(decode_done - refine_done, 2), "total": round(decode_done - started, 2),
                    "unet_global": round(global_unet, 2), "unet_refine": round(refine_unet, 2),
                    "cpu_total": round(cpu_seconds, 2)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mb": round(baseline_rss / 1024, 1),
    }


# -- the grid ------------------------------------------------------------------------------------------
def child(args, size, frames, unet, vae, steps, guidance):
    command = [sys.executable, os.path.abspath(__file__), "--one", "--size", size, "--frames", str(frames),
               "--unet", unet, "--vae", vae, "--steps", str(steps), "--guidance", str(guidance),
               "--profile", args.profile, "--device", args.device, "--tile-size", str(args.tile_size),
               "--tile-overlap", str(args.tile_overlap), "--window-frames", str(args.window_frames),
               "--window-overlap", str(args.window_overlap), "--tile-batch", str(args.tile_batch),
               "--threads", str(args.threads)]
    if args.path:
        command += ["--path", args.path]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"size": size, "frames": frames, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows, title):
    print("\n" + title)
    print("%-10s %6s %8s %6s %7s %8s %9s %9s %9s %10s %9s %11s" % (
        "plate", "frames", "latent", "tiles", "windows", "overlap", "total s", "cpu s", "refine s", "unet ref s",
        "peak MB", "cpu s/Mpxf"))
    for row in rows:
        if "error" in row:
            print("%-10s %6s error: %s" % (row["size"], row["frames"], row["error"]))
            continue
        width, height = (int(v) for v in row["size"].split("x"))
        work = width * height * row["frames"] / 1e6
        cpu = row["seconds"].get("cpu_total", float("nan"))
        print("%-10s %6d %8s %6d %7d %8.2f %9.2f %9.2f %9.2f %10.2f %9.1f %11.4f" % (
            row["size"], row["frames"], row["latent"], row["tiles"], row["windows"], row["overlap_factor"],
            row["seconds"]["total"], cpu, row["seconds"]["refine"], row["seconds"]["unet_refine"],
            row["peak_rss_mb"], cpu / work))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", default="1024x576")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--frame-counts", type=int, nargs="+", default=list(FRAMES))
    parser.add_argument("--grid", choices=("cross", "axes"), default="cross",
                        help="cross: every size x every frame count; axes: sizes at the fewest frames, frame "
                             "counts at the middle size, and the largest size at the most frames")
    parser.add_argument("--unet", choices=("constant", "real"), default="constant")
    parser.add_argument("--vae", choices=("pool", "real"), default="pool")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--guidance", type=float, default=1.0)
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--path", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tile-size", type=int, default=0)
    parser.add_argument("--tile-overlap", type=float, default=0.25)
    parser.add_argument("--window-frames", type=int, default=16)
    parser.add_argument("--window-overlap", type=int, default=4)
    parser.add_argument("--tile-batch", type=int, default=1)
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--timing", nargs="*", metavar="WxHxF", default=None,
                        help="also time the real U-Net (1 step, guidance 1, pooled VAE) on these, e.g. 512x288x16")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args)))
        return 0
    if args.grid == "cross":
        configs = [(size, frames) for size in args.sizes for frames in args.frame_counts]
    else:
        middle = args.sizes[len(args.sizes) // 2]
        configs = [(size, min(args.frame_counts)) for size in args.sizes]
        configs += [(middle, frames) for frames in sorted(args.frame_counts)[1:]]
        configs.append((args.sizes[-1], max(args.frame_counts)))
    rows = []
    for size, frames in configs:
        rows.append(child(args, size, frames, args.unet, args.vae, args.steps, args.guidance))
        print(json.dumps(rows[-1]), flush=True)
    table(rows, "U-Net %s, VAE %s, %d step(s), guidance %s, device %s, profile %s" % (
        args.unet, args.vae, args.steps, args.guidance, args.device, args.profile))
    by_key = {(r["size"], r["frames"]): r for r in rows if "error" not in r}
    small, big = by_key.get(("1024x576", 48)), by_key.get(("2048x1080", 96))
    if small and big:
        print("peak RSS 2048x1080x96 / 1024x576x48: %.2f (target <= 1.5)" % (big["peak_rss_mb"] / small["peak_rss_mb"]))
    timing_rows = []
    for item in args.timing or []:
        width, height, frames = item.split("x")
        timing_rows.append(child(args, "%sx%s" % (width, height), int(frames), "real", "pool", 1, 1.0))
    if timing_rows:
        table(timing_rows, "real U-Net, pooled VAE, 1 step, guidance 1")
        for row in timing_rows:
            if "error" in row:
                continue
            calls = row["unet_calls_refine"]
            print("%s x%d: refine %.1fs, U-Net %.1fs in %d calls (%.2f s/call), non-U-Net share %.1f%%, "
                  "overlap factor %.2f" % (row["size"], row["frames"], row["seconds"]["refine"],
                                           row["seconds"]["unet_refine"], calls,
                                           row["seconds"]["unet_refine"] / max(1, calls),
                                           100 * (1 - row["seconds"]["unet_refine"] / max(1e-9, row["seconds"]["refine"])),
                                           row["overlap_factor"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
