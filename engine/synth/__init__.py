"""Synthetic training and test clips with ground truth: a seeded, deterministic generator of subjects
moving through textured scenes, with cast shadows, contact effects, camera moves and a lighting tint.
See docs/synthetic.md. Needs numpy and OpenImageIO; never torch."""
from .clips import SPLIT_SEED_BASE, SPLITS, RenderedClip, clip_seed, render_clip, split_of_seed
from .writer import (contact_sheet, generate_dataset, read_ground_truth, run_synth, write_clip, write_demo_shot,
                     write_png)

__all__ = [
    "SPLITS", "SPLIT_SEED_BASE", "RenderedClip", "clip_seed", "contact_sheet", "generate_dataset",
    "read_ground_truth", "render_clip", "run_synth", "split_of_seed", "write_clip", "write_demo_shot", "write_png",
]
