"""What the detail pass (engine/model/detail.py) costs at plate size, against the tiled VAE decode it follows.

    HF_HUB_OFFLINE=1 python benchmarks/detail_bench.py [--width 1920 --height 1080 --frames 2 --repeats 3]

Both are measured in the same run on the same frames, as the refinement runs them (PlateRefiner.frame:
decode_tiled at the profile's default tile, then restore_detail in strips), so the ratio holds on a noisy
machine. Also prints the peak memory the detail pass adds (tracemalloc cannot see torch's allocator, so
the peak resident size of a detail-only run is read from the OS). Prints, never asserts.
"""
from __future__ import annotations

import argparse
import resource
import time
import warnings

import torch

from actanywhere.engine.model.detail import restore_detail
from actanywhere.engine.model.pipeline import ActAnywherePipeline
from actanywhere.engine.model.tiled_vae import decode_tiled
from actanywhere.engine.model.profile_files import UntrainedModelWarning, load_profile


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--path", default=None, help="profile directory (default: the packaged one)")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        model = load_profile(args.profile, path=args.path)
    if model.detail is None:
        raise SystemExit("profile '%s' has no detail pass (detail_pass false)" % args.profile)
    pipe = ActAnywherePipeline(model)
    factor = pipe.vae_scale_factor
    tile = max(1, pipe.profile.default_tile_size // factor)
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, model.latent_channels, args.height // factor, args.width // factor, generator=generator)
    condition = torch.rand(1, 3, latents.shape[-2] * factor, latents.shape[-1] * factor, generator=generator)
    matte = (torch.rand(1, 1, *condition.shape[-2:], generator=generator) > 0.7).float()
    decoded = decode_tiled(pipe, latents, tile, tile // 4)

    decode_s = best_of(args.repeats, lambda: [decode_tiled(pipe, latents, tile, tile // 4) for _ in range(args.frames)])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    detail_s = best_of(args.repeats, lambda: [restore_detail(model.detail, decoded, condition, matte)
                                              for _ in range(args.frames)])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per = lambda seconds: seconds / args.frames  # noqa: E731
    print("profile %s, %dx%d, %d threads, %d frames, best of %d" % (
        pipe.profile.name, condition.shape[-1], condition.shape[-2], torch.get_num_threads(), args.frames,
        args.repeats))
    print("tiled VAE decode (tile %d latent px): %.3f s/frame" % (tile, per(decode_s)))
    print("detail pass (strips of 256 rows):   %.3f s/frame = %.2f x the decode" % (per(detail_s), detail_s / decode_s))
    print("peak resident size grew by %.0f MB during the detail pass (after the decode's peak)"
          % ((after - before) / 1024.0))


if __name__ == "__main__":
    main()
