"""wan-vace's memory at 1080p without a GPU: the weights counted on the meta device, the activations
measured on the CPU at the real configs and fitted, added up for a plate's refinement.

    python benchmarks/wan_memory.py                   # about 5 minutes on 2 CPU cores
    python benchmarks/wan_memory.py --plate 3840x2160 --frames 161
    python benchmarks/wan_memory.py --tiny            # the same path at tiny configs (tests/test_model_memory.py)

What is measured, each call in a child process (benchmarks/memory_probe.py):
- the transformer's activations in one call, in bf16 with the modules diffusers keeps in float32,
  at the real widths of the 1.3B and 14B configs with 2 blocks: at three token counts (the fit's slope
  per token and its intercept), with a second VACE block (the hint each VACE block leaves for its main
  block, held through the call), and, for 1.3B, with 4 main blocks (which must add nothing: inference
  frees a block's activations before the next);
- the 3D VAE's tiled encode and decode at the real config (float32, one 256-pixel tile of 9 frames: its
  tiles and 4-frame chunks are processed one at a time, so this does not grow with the plate);
- the refiner's own plate-size tensors (backbones/wan_vace_refine.py: the video each encode takes, the
  decoded video, the tiled VAE's assembled tiles) per pixel x frame, from three plate sizes, with the
  tiny VAE in 64-pixel tiles so that the VAE's activations stay out of the slope.
Then for each model, at the plate and the default tiling (tiling.tile_size 0 = the profile's 832 pixels):
weights + the largest of (encode: the tensors of the largest tile the refiner puts through the VAE at
a time + VAE encode), (sampling: control latents + the activations of the largest window x tile),
(decode: control latents + a VAE tile's tensors + VAE decode).
UMT5-XXL waits on the CPU (backbones/wan_vace.py) and is not counted. On a GPU the kernels differ
(attention is a flash kernel there too, linear in tokens; cuDNN's convolution workspaces come on top):
these are estimates that benchmarks/gpu_check.py replaces with torch.cuda.max_memory_allocated.
Prints, never asserts.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Dict, List

import numpy as np

import memory_probe
from memory_probe import GIB, MIB, linear_fit, peak_above_now

MODELS = ("wan-vace-1.3b", "wan-vace-14b")


# -- measuring (the child process) ------------------------------------------------------------------
def transformer_point(point: dict) -> dict:
    import torch
    from diffusers import WanVACETransformer3DModel

    from actanywhere.engine.model.backbones import wan_vace
    from gpu_check import random_

    config = dict(wan_vace.read_configs(point["config"])["transformer"])
    config.update(num_layers=point["layers"], vace_layers=list(range(point["vace"])),
                  patch_size=tuple(config["patch_size"]))
    with torch.device("meta"):
        model = WanVACETransformer3DModel(**config)
    model = random_(model, torch.device("cpu"), torch.bfloat16).eval()
    frames, height, width = point["latent"]
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(1, config["in_channels"], frames, height, width, generator=generator).to(torch.bfloat16)
    control = torch.randn(1, config["vace_in_channels"], frames, height, width, generator=generator).to(torch.bfloat16)
    text = torch.randn(1, 512, config["text_dim"], generator=generator).to(torch.bfloat16)

    def call():
        with torch.inference_mode():
            model(hidden_states=sample, timestep=torch.tensor([500]), encoder_hidden_states=text,
                  control_hidden_states=control, return_dict=False)

    tokens = frames * (height // 2) * (width // 2)
    return {"tokens": tokens, "bytes": peak_above_now(call)}


def wan_pipeline(vae_config: str):
    """A WanVacePipeline with the tiny transformer and the VAE of `vae_config`: the refiner's encode and
    decode read only the VAE and the transformer's patch size."""
    import torch
    from diffusers import AutoencoderKLWan

    from actanywhere.engine.model.backbones import wan_vace
    from gpu_check import random_

    pipe = wan_vace.build_from_configs("wan-vace-tiny", text_encoder=False)
    with torch.device("meta"):
        vae = AutoencoderKLWan(**wan_vace.read_configs(vae_config)["vae"])
    pipe.vae = random_(vae, torch.device("cpu"), torch.float32, seed=1).eval()
    profile = wan_vace.WanVaceProfile(name="memory", native_size=(32, 48, 5))
    return wan_vace.WanVacePipeline(pipe, profile, "random", torch.device("cpu"), torch.bfloat16)


def vae_point(point: dict) -> dict:
    import torch

    vae = wan_pipeline(point["config"]).pipe.vae
    vae.enable_tiling()
    frames, height, width = point["pixels"]
    generator = torch.Generator().manual_seed(0)
    if point["kind"] == "encode":
        tensor = torch.rand(1, 3, frames, height, width, generator=generator) * 2 - 1
        run = lambda: vae.encode(tensor).latent_dist.mode()  # noqa: E731
    else:
        tensor = torch.randn(1, vae.config.z_dim, (frames - 1) // 4 + 1, height // 8, width // 8, generator=generator)
        run = lambda: vae.decode(tensor).sample  # noqa: E731
    with torch.inference_mode():
        return {"pixel_frames": frames * height * width, "bytes": peak_above_now(run)}


def refiner_point(point: dict) -> dict:
    """The refiner's encode and decode of a plate, its frames held in memory (not the scratch files) so
    that only the tensors the calls make are counted."""
    import torch

    from actanywhere.engine.model.backbones.wan_vace_refine import WanPlateRefiner
    from actanywhere.engine.model.refine import TilingPlan
    from gpu_check import shot

    pipeline = wan_pipeline(point["config"])
    frames, height, width = point["pixels"]
    foreground, matte, condition = shot(frames, height, width)
    refiner = WanPlateRefiner(pipeline, frames, width, height, TilingPlan(5, 4, 4, 1, 1.0))
    # The VAE's tiles at a quarter of the real 256 pixels (the refiner's enable_tiling() keeps them): the
    # plates here then span several tiles, as 1080p spans the real ones, and what grows with the plate is
    # the refiner's and the tiling's own tensors, not the VAE's activations (the encode/decode points).
    vae = pipeline.pipe.vae
    vae.tile_sample_min_height = vae.tile_sample_min_width = 64
    vae.tile_sample_stride_height = vae.tile_sample_stride_width = 48
    try:
        for index in range(frames):
            refiner.add_input(index, foreground[index], matte[index])
            refiner.add_init(index, foreground[index])
        for name in ("foreground", "matte", "init", "out"):
            setattr(refiner, name, np.array(getattr(refiner, name)))
        reference = pipeline.encode_condition(condition)
        encoded = {}
        with torch.inference_mode():
            encode = peak_above_now(lambda: encoded.update(zip(("control", "clean"), refiner._encode(reference))))
            latents = encoded.pop("clean")[:, :, 1:]
            decode = peak_above_now(lambda: refiner._decode(latents))
        return {"pixel_frames": refiner.video_frames * refiner.padded[0] * refiner.padded[1],
                "tile_pixel_frames": refiner.video_frames * refiner.geometry.vae_tile_pixels,
                "encode_bytes": encode, "decode_bytes": decode}
    finally:
        refiner.close()


MEASURES = {"transformer": transformer_point, "encode": vae_point, "decode": vae_point, "refiner": refiner_point}
WARM_UPS = ({"kind": "transformer", "config": "wan-vace-tiny", "layers": 1, "vace": 1, "latent": [2, 4, 4]},
            {"kind": "encode", "config": "wan-vace-tiny", "pixels": [5, 16, 16]},
            {"kind": "decode", "config": "wan-vace-tiny", "pixels": [5, 16, 16]})


# -- the plan and the fit (the parent) --------------------------------------------------------------
def plan_points(tiny: bool) -> List[dict]:
    """The measurements: (frames, height, width) in latents for the transformer, pixels for the rest."""
    points = []
    for model in (("wan-vace-tiny",) if tiny else MODELS):
        size = (2, 8, 8) if tiny else ((5, 20, 64) if model == "wan-vace-1.3b" else (4, 16, 64))
        scales = (1, 2, 4) if (tiny or model == "wan-vace-1.3b") else (1, 2, 3)
        for scale in scales:
            frames, height, width = size
            points.append({"kind": "transformer", "config": model, "layers": 2, "vace": 1,
                           "latent": [frames, height * scale, width]})
        # The differences are taken at the most tokens, where they stand furthest above the noise.
        largest = [size[0], size[1] * scales[-1], size[2]]
        points.append({"kind": "transformer", "config": model, "layers": 2, "vace": 2, "latent": largest})
        if model != "wan-vace-14b":
            points.append({"kind": "transformer", "config": model, "layers": 4, "vace": 1, "latent": largest})
    vae = "wan-vace-tiny" if tiny else "wan-vace-1.3b"  # 1.3B and 14B share Wan 2.1's VAE
    tile = [9, 32, 32] if tiny else [9, 256, 256]
    points += [{"kind": "encode", "config": vae, "pixels": tile}, {"kind": "decode", "config": vae, "pixels": tile}]
    for pixels in ([5, 32, 48], [9, 64, 48]) if tiny else ([9, 256, 192], [9, 256, 384], [17, 256, 384]):
        points.append({"kind": "refiner", "config": "wan-vace-tiny", "pixels": pixels})
    # A plate taller than the refiner's VAE tile (768 pixels), kept out of the fit: what the estimate
    # predicts for it is checked against what it takes (report()).
    points.append({"kind": "refiner", "config": "wan-vace-tiny", "pixels": [5, 96, 48] if tiny else [9, 1088, 192],
                   "check": True})
    return points


def fit(results: List[dict]) -> dict:
    fits = {"transformer": {}}
    for model in sorted({r["config"] for r in results if r["kind"] == "transformer"}):
        rows = [r for r in results if r["kind"] == "transformer" and r["config"] == model]
        base = [r for r in rows if r["layers"] == 2 and r["vace"] == 1]
        line = linear_fit([r["tokens"] for r in base], [r["bytes"] for r in base])
        same = {r["tokens"]: r["bytes"] for r in base}
        hint = [(r["bytes"] - same[r["tokens"]]) / r["tokens"] for r in rows if r["vace"] == 2]
        deeper = [r["bytes"] / same[r["tokens"]] for r in rows if r["layers"] == 4]
        fits["transformer"][model] = dict(line, hint_per_token=hint[0], deeper_ratio=deeper[0] if deeper else None)
    for kind in ("encode", "decode"):
        fits["vae_" + kind] = next(r["bytes"] for r in results if r["kind"] == kind)
    refiner = [r for r in results if r["kind"] == "refiner" and not r.get("check")]
    for kind in ("encode", "decode"):
        fits["refiner_" + kind] = linear_fit([r["pixel_frames"] for r in refiner],
                                             [r[kind + "_bytes"] for r in refiner])
    fits["tile_checks"] = [
        dict({"pixels": r["pixels"]}, **{
            kind: {"measured": r[kind + "_bytes"], "predicted": fits["refiner_" + kind]["intercept"]
                   + fits["refiner_" + kind]["slope"] * r["tile_pixel_frames"]} for kind in ("encode", "decode")})
        for r in results if r["kind"] == "refiner" and r.get("check")]
    return fits


def weights_bytes(model: str) -> Dict[str, int]:
    """The transformer's and the VAE's bytes as they run on CUDA (bf16 with float32 modules; the VAE
    float32), from the real configs on the meta device."""
    import torch

    from actanywhere.engine.model.backbones import wan_vace
    from gpu_check import random_

    with torch.device("meta"):
        pipe = wan_vace.build_from_configs(model, text_encoder=False)
    meta = torch.device("meta")
    transformer = random_(pipe.transformer, meta, torch.bfloat16)
    vae = random_(pipe.vae, meta, torch.float32)
    size = lambda module: sum(p.numel() * p.element_size() for p in module.parameters())  # noqa: E731
    return {"transformer": size(transformer), "vae": size(vae), "vace_layers": len(transformer.config.vace_layers),
            "patch": transformer.config.patch_size[1], "control_channels": transformer.config.vace_in_channels}


def estimate(model: str, fits: dict, plate_width: int, plate_height: int, frames: int, fit_model: str) -> dict:
    """Peak device memory of a plate's refinement and of one native-size call (the global pass)."""
    from actanywhere.engine.model.backbones import wan_vace
    from actanywhere.engine.model.backbones.wan_vace_refine import RefineGeometry
    from actanywhere.engine.model.refine import TilingPlan
    from actanywhere.engine.settings import TilingSettings

    profile = wan_vace.WanVaceProfile(name=model, **{k: v for k, v in wan_vace.read_configs(model)["profile"].items()
                                                    if k in ("native_size", "default_tile_size")})
    weights = weights_bytes(model)
    factor = 8 * weights["patch"]
    stub = SimpleNamespace(vae_scale_factor=factor, profile=profile,
                           model=SimpleNamespace(max_frames_per_call=profile.native_frames))
    plan = TilingPlan.from_settings(TilingSettings(), stub)
    geometry = RefineGeometry.of(frames, plate_width, plate_height, plan, factor)
    line = fits["transformer"][fit_model]

    def activations(tokens: int) -> float:
        return line["intercept"] + tokens * (line["slope"] + (weights["vace_layers"] - 1) * line["hint_per_token"])

    tile_pixel_frames = geometry.video_frames * geometry.vae_tile_pixels  # the VAE takes a tile at a time
    control = (weights["control_channels"] * (1 + geometry.latent_frames) * geometry.latent_height
               * geometry.latent_width * 2)  # bf16
    encode_f, decode_f = fits["refiner_encode"], fits["refiner_decode"]
    phases = {
        "encode": encode_f["intercept"] + encode_f["slope"] * tile_pixel_frames + fits["vae_encode"],
        "sample": control + activations(geometry.region_tokens),
        "decode": control + decode_f["intercept"] + decode_f["slope"] * tile_pixel_frames + fits["vae_decode"],
    }
    height, width, native_frames = profile.native_size
    native_tokens = (1 + (native_frames - 1) // 4 + 1) * (height // factor) * (width // factor)
    held = weights["transformer"] + weights["vae"]
    return {"model": model, "plate": "%dx%d" % (plate_width, plate_height), "frames": frames,
            "tile_pixels": plan.tile * factor, "tiles": geometry.grid.tile_count, "windows": geometry.grid.window_count,
            "region_tokens": geometry.region_tokens, "weights_gib": held / GIB,
            "phases_gib": {name: value / GIB for name, value in phases.items()},
            "peak_gib": (held + max(phases.values())) / GIB,
            "native_call_tokens": native_tokens, "native_call_gib": (held + activations(native_tokens)) / GIB}


def report(fits: dict, estimates: List[dict]) -> None:
    print("\nfits (bytes):")
    for model, line in fits["transformer"].items():
        print("  %-14s transformer: %.1f KiB a token + %.2f KiB a token for each further VACE block, "
              "intercept %.0f MiB, worst residual %.1f%%%s" % (
                  model, line["slope"] / 1024, line["hint_per_token"] / 1024, line["intercept"] / MIB,
                  100 * line["residual"],
                  "" if line["deeper_ratio"] is None else "; 4 main blocks / 2: %.3f" % line["deeper_ratio"]))
    print("  VAE tiled: encode %.0f MiB, decode %.0f MiB" % (fits["vae_encode"] / MIB, fits["vae_decode"] / MIB))
    for kind in ("encode", "decode"):
        line = fits["refiner_" + kind]
        print("  refiner %s: %.1f bytes a pixel x frame, intercept %.0f MiB, worst residual %.1f%%" % (
            kind, line["slope"], line["intercept"] / MIB, 100 * line["residual"]))
    for check in fits.get("tile_checks", ()):
        for kind in ("encode", "decode"):
            print("  refiner %s of a %s plate (in tiles): %.1f MiB, the fit at its largest tile predicts %.1f MiB" % (
                kind, "x".join(str(v) for v in check["pixels"]), check[kind]["measured"] / MIB,
                check[kind]["predicted"] / MIB))
    print("\n%-14s %-10s %6s %5s %7s %9s %8s %8s %8s %8s %8s %10s" % (
        "model", "plate", "frames", "tile", "regions", "tokens", "weights", "encode", "sample", "decode", "peak",
        "native"))
    for row in estimates:
        phases = row["phases_gib"]
        print("%-14s %-10s %6d %5d %7s %9d %7.1fG %7.1fG %7.1fG %7.1fG %7.1fG %9.1fG" % (
            row["model"], row["plate"], row["frames"], row["tile_pixels"], "%dx%d" % (row["windows"], row["tiles"]),
            row["region_tokens"], row["weights_gib"], phases["encode"], phases["sample"], phases["decode"],
            row["peak_gib"], row["native_call_gib"]))
    print("(GiB; peak = weights + the largest phase; native = weights + one call at the native size)")


def main(argv=None) -> dict:
    def estimates(fits, width, height, frames, tiny):
        return [estimate(model, fits, width, height, frames, "wan-vace-tiny" if tiny else model) for model in MODELS]

    return memory_probe.main(argv, __file__, __doc__, MEASURES, WARM_UPS, plan_points, fit, estimates, report)


if __name__ == "__main__":
    main()
