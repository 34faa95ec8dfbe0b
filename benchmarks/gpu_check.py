"""GPU check: every backbone at its real size with random weights on one 480p shot, no download.

    python benchmarks/gpu_check.py                      # on a CUDA machine: under 10 minutes on one H200
    python benchmarks/gpu_check.py --tiny --device cpu  # the same path at tiny sizes (tests/test_gpu_check.py)

For each backbone (the U-Net at actanywhere-sd15's size, wan-vace 1.3B and 14B) and each frame count
(17, 33) it prints seconds per clip, seconds per denoising step and peak GPU memory, and the tiled path's
overhead against one untiled call on the same work (the U-Net: tiles of 64 latent pixels, the profile's
refinement tile; wan-vace: its plate refinement in 2x2 tiles against one region). For wan-vace it also
runs the refinement of a 1920x1080 plate (--plate) in the profile's 832-pixel tiles: seconds and peak
memory at 1080p, the figures docs/model.md asks for, beside what benchmarks/wan_memory.py estimated
for the same plate from its CPU measurements (benchmarks/measured/wan_memory.json). Random weights
time and size the real networks; their pictures mean nothing. UMT5-XXL is left out (prompt embeddings are random, as the cache would hold them): it runs
once per prompt, on the GPU for a second, then waits on the CPU (backbones/wan_vace.py).
Prints, never asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

SHOT = (480, 832)  # a 480p plate, at the model's working size


def random_(module: torch.nn.Module, device: torch.device, dtype: torch.dtype, seed: int = 0) -> torch.nn.Module:
    """Materialise a meta-device module on `device` with small random weights (fast at 17B parameters),
    in `dtype` but for the modules diffusers keeps in float32; on the meta device only the dtypes change
    (benchmarks/wan_memory.py counts the bytes so)."""
    module = module.to_empty(device=device)
    if device.type != "meta":
        generator = torch.Generator(device=device).manual_seed(seed)
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.normal_(0.0, 0.02, generator=generator)
            for buffer_name, buffer in module.named_buffers():
                if buffer.is_floating_point():
                    buffer.zero_()
    module = module.to(dtype)
    for name in getattr(module, "_keep_in_fp32_modules", None) or ():  # as from_pretrained keeps them
        for child_name, child in module.named_modules():
            if child_name.split(".")[-1] == name:
                child.to(torch.float32)
    return module


def shot(frames: int, height: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    matte = np.zeros((frames, height, width), np.float32)
    matte[:, height // 4: 3 * height // 4, width // 3: 2 * width // 3] = 1.0
    return rng.random((frames, height, width, 3), dtype=np.float32), matte, rng.random((height, width, 3), dtype=np.float32)


def wan_vace(config_name: str, device: torch.device, dtype: torch.dtype, size):
    from actanywhere.engine.model.backbones import wan_vace as backbone

    with torch.device("meta"):
        pipe = backbone.build_from_configs(config_name, text_encoder=False)
    pipe.transformer = random_(pipe.transformer, device, dtype)
    pipe.vae = random_(pipe.vae, device, torch.float32, seed=1)
    pipe.set_progress_bar_config(disable=True)
    profile = backbone.WanVaceProfile(name=config_name, native_size=(size[0], size[1], 81))
    pipeline = backbone.WanVacePipeline(pipe, profile, "random", device, dtype)
    text_dim = pipe.transformer.config.text_dim
    embeds = torch.randn(1, profile.max_sequence_length, text_dim, device=device, dtype=dtype)
    pipeline._prompts[("", profile.negative_prompt, True)] = (embeds, torch.zeros_like(embeds))
    return pipeline


def unet_sd15(device: torch.device, dtype: torch.dtype, tiny: bool):
    from diffusers import AutoencoderKL
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from actanywhere.engine.model.architecture import ActAnywhereModel
    from actanywhere.engine.model.pipeline import ActAnywherePipeline
    from actanywhere.engine.model.profile import ModelProfile
    from actanywhere.engine.model.sd15 import SD15_CONFIGS, build_sd15_unet, read_config
    from actanywhere.engine.model.profile_files import CONFIGS_DIR, build_from_configs

    if tiny:
        return ActAnywherePipeline(build_from_configs(CONFIGS_DIR / "tiny"), device=device)
    profile = ModelProfile.load(SD15_CONFIGS / "actanywhere.json")
    unet = random_(build_sd15_unet(read_config("unet2d.json"), read_config("motion_adapter.json"),
                                   profile.channel_order), device, dtype)
    plain = {k: v for k, v in read_config("vae.json").items() if not k.startswith("_")}
    with torch.device("meta"):
        vae = AutoencoderKL.from_config(plain)
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**{
            k: v for k, v in read_config("image_encoder.json").items() if not k.startswith("_")}))
    model = ActAnywhereModel(profile, unet, random_(vae, device, dtype, 1), random_(encoder, device, dtype, 2),
                             checksum="random", trained=False)
    return ActAnywherePipeline(model)


def unet_tiled(pipeline, foreground, matte, condition, steps: int, tile: int) -> None:
    """The U-Net sampled in tiles of `tile` latent pixels (the tiled sampler the refinement runs)."""
    from actanywhere.engine.model.blending import BlendGrid
    from actanywhere.engine.model.pipeline import make_scheduler
    from actanywhere.engine.model.shot_tensor import ShotTensor
    from actanywhere.engine.model.tiled_sampler import TiledSampler
    from actanywhere.engine.model.unet_regions import ShotConditioning, UNetRegions

    conditioning = pipeline.encode_conditioning(foreground, matte, condition)
    scheduler = make_scheduler("ddim", pipeline.profile.noise_schedule)
    scheduler.set_timesteps(steps, device=pipeline.device)
    _, _, frames, height, width = conditioning.fg_latents.shape
    latents = ShotTensor.from_tensor(pipeline.prepare_latents(
        (1, pipeline.model.latent_channels, frames, height, width), 0, scheduler))
    window = min(pipeline.profile.native_frames, pipeline.model.max_frames_per_call)
    grid = BlendGrid(frames, height, width, window, window // 4, tile, tile // 4)
    regions = UNetRegions(pipeline, ShotConditioning.from_conditioning(conditioning), 1.0, grid)
    TiledSampler(grid).denoise(latents, regions, scheduler, scheduler.timesteps)


def wan_refine(pipeline, frames: int, size, steps: int, tile_patches: int) -> int:
    """wan-vace's plate refinement (backbones/wan_vace_refine.py) of a `size` plate at strength 1, in
    tiles of `tile_patches` transformer patches (16 pixels each); returns its transformer calls."""
    from actanywhere.engine.model.refine import TilingPlan

    height, width = size
    foreground, matte, condition = shot(frames, height, width)
    plan = TilingPlan(pipeline.profile.native_frames, 4, tile_patches, max(1, tile_patches // 4), 1.0)
    refiner = pipeline.plate_refiner(frames, width, height, plan)
    try:
        for index in range(frames):
            refiner.add_input(index, foreground[index], matte[index])
            refiner.add_init(index, foreground[index])
        refiner.run(foreground, pipeline.encode_condition(condition), steps, 5.0, "", 0)
        return refiner.transformer_calls
    finally:
        refiner.close()


MEASURED_FITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "measured", "wan_memory.json")


def cpu_estimate(name: str, width: int, height: int, frames: int, fits_file: str = MEASURED_FITS) -> Optional[float]:
    """What benchmarks/wan_memory.py's CPU fits (the run in benchmarks/measured/) estimate for this plate's
    refinement, in GiB, to print beside the peak measured here; None without the file."""
    if not os.path.exists(fits_file):
        return None
    import wan_memory

    with open(fits_file) as stream:
        fits = json.load(stream)["fits"]
    return wan_memory.estimate(name, fits, width, height, frames, name)["peak_gib"]


def timed(device: torch.device, run: Callable[[], object]) -> Dict[str, float]:
    synchronise = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    synchronise()
    started = time.perf_counter()
    run()
    synchronise()
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if device.type == "cuda" else float("nan")
    return {"seconds": seconds, "peak_gib": peak}


def main(argv=None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per clip")
    parser.add_argument("--frames", type=int, nargs="+", default=[17, 33])
    parser.add_argument("--tiny", action="store_true", help="tiny configs (a smoke run of this script on a CPU)")
    parser.add_argument("--backbones", nargs="+", default=["unet-sd15", "wan-vace-1.3b", "wan-vace-14b"])
    parser.add_argument("--json", action="store_true", help="one JSON line per result")
    parser.add_argument("--plate", default="1920x1080", help="wan-vace: the plate its refinement runs at, WxH "
                                                            "(with the first frame count); 'none' to skip")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    height, width = (48, 80) if args.tiny else SHOT
    results = []
    print("device %s, %s, %d steps, shot %dx%d%s" % (device, dtype, args.steps, width, height,
                                                    " (tiny configs)" if args.tiny else ""))
    for name in args.backbones:
        started = time.perf_counter()
        if name == "unet-sd15":
            pipeline = unet_sd15(device, dtype, args.tiny)  # tiny: the tiny profile, VAE factor 4
            size = (64, 64) if args.tiny else SHOT
        else:
            pipeline = wan_vace("wan-vace-tiny" if args.tiny else name, device, dtype, (height, width))
            size = (height, width)
        load_s = time.perf_counter() - started
        for frames in args.frames:
            foreground, matte, condition = shot(frames, *size)
            whole = timed(device, lambda: pipeline(foreground, matte, condition, steps=args.steps, seed=0,
                                                   guidance_scale=5.0 if name != "unet-sd15" else 1.0,
                                                   interaction=False))
            row = {"backbone": name, "frames": frames, "size": "%dx%d" % (size[1], size[0]), "build_s": round(load_s, 1),
                   "seconds_per_clip": round(whole["seconds"], 2),
                   "seconds_per_step": round(whole["seconds"] / args.steps, 3), "peak_gib": round(whole["peak_gib"], 2)}
            if name == "unet-sd15":
                tile = 16 if args.tiny else 64
                tiled = timed(device, lambda: unet_tiled(pipeline, foreground, matte, condition, args.steps, tile))
                untiled = timed(device, lambda: unet_tiled(pipeline, foreground, matte, condition, args.steps, 10 ** 6))
                row.update(tiled_overhead=round(tiled["seconds"] / untiled["seconds"] - 1.0, 3),
                           tiled_peak_gib=round(tiled["peak_gib"], 2), untiled_peak_gib=round(untiled["peak_gib"], 2))
            else:
                half = max(2, (size[1] // 16) // 2)  # 2x2 tiles of the working size, in patches
                tiled = timed(device, lambda: wan_refine(pipeline, frames, size, args.steps, half))
                untiled = timed(device, lambda: wan_refine(pipeline, frames, size, args.steps, 10 ** 6))
                row.update(tiled_overhead=round(tiled["seconds"] / untiled["seconds"] - 1.0, 3),
                           tiled_peak_gib=round(tiled["peak_gib"], 2), untiled_peak_gib=round(untiled["peak_gib"], 2))
                if args.plate != "none" and frames == args.frames[0]:
                    plate_width, plate_height = (int(v) for v in (("160x96" if args.tiny else args.plate).split("x")))
                    tile = 52 if not args.tiny else 4  # the profile's 832-pixel tile, in patches
                    plate = timed(device, lambda: wan_refine(pipeline, frames, (plate_height, plate_width),
                                                             args.steps, tile))
                    row.update(plate="%dx%d" % (plate_width, plate_height), plate_seconds=round(plate["seconds"], 2),
                               plate_peak_gib=round(plate["peak_gib"], 2))
                    estimate = None if args.tiny else cpu_estimate(name, plate_width, plate_height, frames)
                    if estimate is not None:
                        row["plate_cpu_estimate_gib"] = round(estimate, 2)
            results.append(row)
            print(json.dumps(row) if args.json else
                  "%-14s %3d frames %s: %7.2f s/clip  %6.3f s/step  peak %6.2f GiB%s%s" % (
                      name, frames, row["size"], row["seconds_per_clip"], row["seconds_per_step"], row["peak_gib"],
                      "  tiled +%.1f%%" % (100 * row["tiled_overhead"]),
                      "" if "plate" not in row else "  refine %s: %.2f s, peak %.2f GiB%s" % (
                          row["plate"], row["plate_seconds"], row["plate_peak_gib"],
                          " (CPU estimate %.2f)" % row["plate_cpu_estimate_gib"] if "plate_cpu_estimate_gib" in row else "")),
                  flush=True)
        pipeline = None  # the next backbone gets the memory
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


if __name__ == "__main__":
    main()
