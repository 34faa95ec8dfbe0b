"""Seconds per denoising step of a model profile, and the pipeline's overhead over its U-Net calls.

    HF_HUB_OFFLINE=1 python benchmarks/model_bench.py [--frames 16 --size 256 --steps 4 --guidance 3]

The U-Net's forward time is measured with hooks inside the same pipeline run, so the overhead
(everything in the sampling stage that is not a U-Net forward: scheduler steps, building the
9-channel input, guidance, condition embedding) is measured on the same work. Prints, never asserts.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from actanywhere.engine.model.pipeline import ActAnywherePipeline
from actanywhere.engine.model.profile_files import UntrainedModelWarning, load_profile


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--path", default=None, help="profile directory (default: the packaged one)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--scheduler", default="ddim")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None)
    args = parser.parse_args(argv)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        model = load_profile(args.profile, path=args.path, device=args.device, dtype=args.dtype)
    pipe = ActAnywherePipeline(model)
    sync = torch.cuda.synchronize if pipe.device.type == "cuda" else (lambda: None)

    unet_seconds = []
    started = {}

    def before(module, inputs):
        sync()
        started["t"] = time.perf_counter()

    def after(module, inputs, output):
        sync()
        unet_seconds.append(time.perf_counter() - started["t"])

    pipe.model.unet.register_forward_pre_hook(before)
    pipe.model.unet.register_forward_hook(after)

    rng = np.random.default_rng(0)
    frames, size = args.frames, args.size
    foreground = rng.random((frames, size, size, 3), dtype=np.float32)
    matte = np.zeros((frames, size, size), np.float32)
    matte[:, size // 4: 3 * size // 4, size // 3: 2 * size // 3] = 1
    condition = rng.random((size, size, 3), dtype=np.float32)

    print("profile %s (%s), "
          "%.2fM parameters, device %s, dtype %s, "
          "torch threads %s"
          % (model.profile.name, 'trained' if model.trained else 'untrained',
             sum(model.num_parameters().values()) / 1e6, pipe.device, pipe.dtype, torch.get_num_threads()))
    print("input %s frames x %sx%s, latent %sx"
          "%s, scheduler %s, %s steps"
          % (frames, size, size, size // pipe.vae_scale_factor, size // pipe.vae_scale_factor, args.scheduler,
             args.steps))

    # Warm-up: first calls allocate and pick kernels.
    pipe(foreground[:2], matte[:2], condition, steps=1, guidance_scale=1.0, scheduler=args.scheduler)

    for guidance in args.guidance:
        unet_seconds.clear()
        marks = {}

        def progress(event):
            sync()
            marks.setdefault(event.stage + "_first", time.perf_counter())
            marks[event.stage + "_last"] = time.perf_counter()

        begin = time.perf_counter()
        pipe(foreground, matte, condition, steps=args.steps, guidance_scale=guidance, scheduler=args.scheduler,
             seed=0, progress=progress)
        end = time.perf_counter()
        sampling = marks["sample_last"] - marks["encode_last"]
        unet = sum(unet_seconds)
        encode = marks["encode_last"] - begin
        decode = end - marks["sample_last"]
        batch = 2 if guidance > 1 else 1
        print("guidance %g (U-Net batch %s): %.3f s/step, "
              "U-Net %.3f s/step over %s calls, "
              "pipeline overhead %.2f%% | encode %.2f s, "
              "decode %.2f s, total %.2f s"
              % (guidance, batch, sampling / args.steps, unet / args.steps, len(unet_seconds),
                 100 * (sampling - unet) / unet, encode, decode, end - begin))


if __name__ == "__main__":
    main()
