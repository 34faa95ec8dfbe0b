"""The U-Net profiles' memory at 1080p without a GPU: the weights counted on the meta device, the
activations of one guided U-Net call and of the VAE's tile measured on the CPU at the real configs
(benchmarks/memory_probe.py), fitted and added up for a plate's refinement.

    python benchmarks/unet_memory.py                  # actanywhere-sd15, about 4 minutes on 2 CPU cores
    python benchmarks/unet_memory.py --plate 3840x2160
    python benchmarks/unet_memory.py --tiny           # the same path at the tiny profile (tests/test_model_memory.py)

What is measured, in bf16 (the bytes of the float16 it runs in on CUDA):
- the U-Net (SD 1.5 + AnimateDiff motion modules, conv_in widened) in one guided call, a batch of two
  (unconditional and conditional, as UNetRegions asks), at three latent sizes up to the refinement's
  window x tile (16 frames x 64 x 64): the fit's slope per latent pixel x frame and its intercept;
- the VAE's encode and decode of one frame's tile (model/tiled_vae.py encodes and decodes a frame at a
  time, a tile at a time: this does not grow with the plate).
The plate-size state (latents, the subject's latents and mask, the decoded frames) waits in scratch
files on the CPU (model/shot_tensor.py), so the estimate is weights + the largest of (one call at the
native size: the global pass), (one window x tile: the refinement), (the VAE's tile). The CLIP image
encoder runs once per shot on a 224-pixel image; its activations are not counted. zeroshot-sd15-inpaint
has the same U-Net shape; its IP-Adapter (a ViT-H image encoder and 4 more context tokens) is not in
this count. On a GPU the kernels differ (cuDNN's workspaces come on top): benchmarks/gpu_check.py reads
torch.cuda.max_memory_allocated. Prints, never asserts.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Dict, List

import memory_probe
from memory_probe import GIB, MIB, linear_fit, peak_above_now

PROFILES = ("actanywhere-sd15",)


# -- measuring (the child process) ------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def pipeline_of(config: str):
    """The profile's pipeline with random weights in bf16 on the CPU (built once per process)."""
    import torch

    from gpu_check import unet_sd15

    model = unet_sd15(torch.device("cpu"), torch.bfloat16, tiny=config == "tiny").model
    for part in (model.unet, model.vae):  # the tiny profile is built in float32
        part.to(torch.bfloat16).eval()
    return model


def unet_point(point: dict) -> dict:
    import torch

    model = pipeline_of(point["config"])
    unet = model.unet
    frames, height, width = point["latent"]
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(2, unet.config.in_channels, frames, height, width, generator=generator).to(torch.bfloat16)
    context = unet.config.cross_attention_dim
    embeds = torch.randn(2 * frames, 1, context, generator=generator).to(torch.bfloat16)

    def call():
        with torch.inference_mode():
            unet(sample, torch.tensor(500), encoder_hidden_states=embeds)

    return {"latent_pixels": frames * height * width, "bytes": peak_above_now(call)}


def vae_point(point: dict) -> dict:
    import torch

    vae = pipeline_of(point["config"]).vae
    _, height, width = point["pixels"]
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    generator = torch.Generator().manual_seed(0)
    if point["kind"] == "encode":
        pixels = torch.rand(1, 3, height, width, generator=generator).to(torch.bfloat16) * 2 - 1
        run = lambda: vae.encode(pixels).latent_dist.mode()  # noqa: E731
    else:
        latents = torch.randn(1, vae.config.latent_channels, height // factor, width // factor,
                              generator=generator).to(torch.bfloat16)
        run = lambda: vae.decode(latents).sample  # noqa: E731
    with torch.inference_mode():
        return {"bytes": peak_above_now(run)}


MEASURES = {"unet": unet_point, "encode": vae_point, "decode": vae_point}
WARM_UPS = ({"kind": "unet", "config": "tiny", "latent": [2, 4, 4]},
            {"kind": "encode", "config": "tiny", "pixels": [1, 32, 32]},
            {"kind": "decode", "config": "tiny", "pixels": [1, 32, 32]})


# -- the plan and the fit (the parent) --------------------------------------------------------------
def plan_points(tiny: bool) -> List[dict]:
    """(frames, height, width) in latent pixels for the U-Net, pixels for the VAE's tile."""
    config = "tiny" if tiny else "sd15"
    sizes = ([2, 4, 4], [2, 8, 8], [4, 8, 8]) if tiny else ([4, 32, 32], [8, 64, 64], [16, 64, 64])
    points = [{"kind": "unet", "config": config, "latent": list(size)} for size in sizes]
    tile = [1, 64, 64] if tiny else [1, 512, 512]  # the profiles' default_tile_size
    return points + [{"kind": kind, "config": config, "pixels": tile} for kind in ("encode", "decode")]


def fit(results: List[dict]) -> dict:
    unet = [r for r in results if r["kind"] == "unet"]
    fits = {"unet": linear_fit([r["latent_pixels"] for r in unet], [r["bytes"] for r in unet])}
    for kind in ("encode", "decode"):
        fits["vae_" + kind] = next(r["bytes"] for r in results if r["kind"] == kind)
    return fits


def weights_bytes(profile_name: str) -> Dict[str, int]:
    """The U-Net's, VAE's and image encoder's bytes in float16, from the real configs on the meta device."""
    import torch

    from gpu_check import unet_sd15

    model = unet_sd15(torch.device("meta"), torch.float16, tiny=profile_name == "tiny").model
    size = lambda module: sum(p.numel() * p.element_size() for p in module.parameters())  # noqa: E731
    return {"unet": size(model.unet), "vae": size(model.vae), "image_encoder": size(model.image_encoder),
            "max_frames_per_call": model.max_frames_per_call}


def estimate(profile_name: str, fits: dict, plate_width: int, plate_height: int, frames: int) -> dict:
    """Peak device memory of a plate's refinement and of one native-size call (the global pass)."""
    import math

    from actanywhere.engine.model.blending import BlendGrid
    from actanywhere.engine.model.profile import ModelProfile
    from actanywhere.engine.model.profile_files import CONFIGS_DIR
    from actanywhere.engine.model.refine import TilingPlan
    from actanywhere.engine.model.sd15 import SD15_CONFIGS
    from actanywhere.engine.settings import TilingSettings

    tiny = profile_name == "tiny"
    profile = ModelProfile.load((CONFIGS_DIR / "tiny" if tiny else SD15_CONFIGS) / "actanywhere.json")
    weights = weights_bytes(profile_name)
    factor = 8
    stub = SimpleNamespace(vae_scale_factor=factor, profile=profile,
                           model=SimpleNamespace(max_frames_per_call=weights["max_frames_per_call"]))
    plan = TilingPlan.from_settings(TilingSettings(), stub)
    grid = BlendGrid(frames, math.ceil(plate_height / factor), math.ceil(plate_width / factor), plan.window_frames,
                     plan.window_overlap, plan.tile, plan.tile_overlap)
    line = fits["unet"]
    activations = lambda pixels: line["intercept"] + line["slope"] * pixels  # noqa: E731
    window, rows, cols = grid.window_shape
    region_pixels = window * rows * cols * plan.tile_batch
    height, width, native_frames = profile.native_size
    native_pixels = (height // factor) * (width // factor) * native_frames
    phases = {"global": activations(native_pixels), "refine": activations(region_pixels),
              "vae": max(fits["vae_encode"], fits["vae_decode"])}
    held = weights["unet"] + weights["vae"] + weights["image_encoder"]
    return {"model": profile.name, "plate": "%dx%d" % (plate_width, plate_height), "frames": frames,
            "tile_pixels": plan.tile * factor, "tiles": grid.tile_count, "windows": grid.window_count,
            "region_latent_pixels": region_pixels, "weights_gib": held / GIB,
            "phases_gib": {name: value / GIB for name, value in phases.items()},
            "peak_gib": (held + max(phases.values())) / GIB}


def report(fits: dict, estimates: List[dict]) -> None:
    line = fits["unet"]
    print("\nfits (bytes):")
    print("  U-Net, guided (batch 2): %.1f KiB a latent pixel x frame, intercept %.0f MiB, worst residual %.1f%%" % (
        line["slope"] / 1024, line["intercept"] / MIB, 100 * line["residual"]))
    print("  VAE tile: encode %.0f MiB, decode %.0f MiB" % (fits["vae_encode"] / MIB, fits["vae_decode"] / MIB))
    print("\n%-18s %-10s %6s %5s %8s %8s %8s %8s %8s %8s" % (
        "model", "plate", "frames", "tile", "regions", "weights", "global", "refine", "vae", "peak"))
    for row in estimates:
        phases = row["phases_gib"]
        print("%-18s %-10s %6d %5d %8s %7.2fG %7.2fG %7.2fG %7.2fG %7.2fG" % (
            row["model"], row["plate"], row["frames"], row["tile_pixels"], "%dx%d" % (row["windows"], row["tiles"]),
            row["weights_gib"], phases["global"], phases["refine"], phases["vae"], row["peak_gib"]))
    print("(GiB in float16; peak = weights + the largest phase; global = one call at the native size)")


def main(argv=None) -> dict:
    def estimates(fits, width, height, frames, tiny):
        return [estimate(name, fits, width, height, frames) for name in (("tiny",) if tiny else PROFILES)]

    return memory_probe.main(argv, __file__, __doc__, MEASURES, WARM_UPS, plan_points, fit, estimates, report)


if __name__ == "__main__":
    main()
