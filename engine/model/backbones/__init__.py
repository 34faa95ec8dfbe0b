"""Backbones: the model families behind a profile's `kind`, and the one seam generate loads them by.

A backbone gives generate (engine/generate.py) what it asks of a model, and nothing about how:

    pipeline.profile            name, native_height / native_width / native_frames, default_steps,
                                default_guidance_scale, default_tile_size, keep_condition
    pipeline.model              interaction (a shadow pass or None), checksum, max_frames_per_call
    pipeline.vae_scale_factor   working sizes are multiples of it
    pipeline.supports_refinement   whether the tiled refinement at plate size can run
    pipeline(foreground, matte, condition, steps=, guidance_scale=, scheduler=, seed=, progress=,
             window_frames=, window_overlap=, spatial=, interaction=, prompt=) -> (T, H, W, 3) in [0, 1]
    pipeline.plate_refiner(frames, width, height, tiling_plan, scratch_dir) -> a refiner: add_input and
        add_init per frame, run(global_frames, pipeline.encode_condition(condition), steps, guidance,
        scheduler, seed, progress, condition=, spatial=, prompt=), frames_out(progress), close(), and
        width / height / latent_width / latent_height / grid (a BlendGrid of windows x tiles, model/blending.py),
        denoised by model/tiled_sampler.py, every backbone's loop, through the backbone's region model

Kinds:
- `tiny`, `actanywhere-sd15`, `zeroshot-sd15-inpaint`: the ActAnywhere U-Net (model/pipeline.py),
  one latent per frame, with the tiled refinement, detail and interaction passes;
- `wan-vace`: Wan 2.1 VACE through diffusers' WanVACEPipeline (backbones/wan_vace.py), refined at plate
  size in latent windows x tiles (backbones/wan_vace_refine.py).

Adding a backbone is one module here with `load(name, path, device, dtype)`, `missing_files(dir)` and
`file_checksums(dir)` (model/profile_files.py asks them for directories of its kind: `model check`, the
provenance checksum), and its kind in KINDS (docs/model.md).
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

from actanywhere.engine.errors import ModelError

UNET = "unet"
WAN_VACE = "wan-vace"
# profile kind (settings.MODEL_KINDS) -> backbone module under backbones/
KINDS = {"tiny": UNET, "actanywhere-sd15": UNET, "zeroshot-sd15-inpaint": UNET, WAN_VACE: "wan_vace"}
PROFILE_FILE = "actanywhere.json"


def backbone(kind: str):
    """The module of a profile kind's backbone."""
    if kind not in KINDS:
        raise ModelError("unknown model kind %r; known kinds: %s" % (kind, ', '.join(sorted(KINDS))))
    return importlib.import_module("%s.%s" % (__name__, KINDS[kind]))


def load(kind: str, name: str, path, device: str, dtype=None):
    """The pipeline of profile `name` of `kind`, from its directory `path` (None: a built-in profile)."""
    return backbone(kind).load(name, path, device=device, dtype=dtype)


def directory_kind(directory) -> str:
    """The kind a profile directory declares in its actanywhere.json; U-Net profiles declare none."""
    try:
        data = json.loads((Path(directory) / PROFILE_FILE).read_text())
    except (OSError, ValueError):
        return UNET
    return str(data.get("kind") or UNET) if isinstance(data, dict) else UNET


def is_unet_directory(directory) -> bool:
    return KINDS.get(directory_kind(directory), UNET) == UNET

