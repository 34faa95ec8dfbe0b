"""Seam score: gradient energy along tile and window borders over that of the interior.

A seam is a step where one tile's or window's content meets its neighbour's. The score compares the
mean squared difference between neighbouring pixel columns (rows, frames) that straddle a border of
the grid (each tile's or window's first and last line, and the middle of each overlap) with the mean
over the lines away from any border at the same place in the VAE's latent grid (the decoder's own
per-latent-pixel pattern is not a seam), over the generated background only (the subject is the plate's
own pixels, merged back exactly, and its outline is an edge, not a seam). 1.0: borders look like the rest of the image; a visible seam
pushes it up. Spatial and temporal scores are reported apart; `score` is the larger.

    python -m actanywhere.engine.evaluation.seams --width 1024 --height 576 --frames 8 --steps 4
(wired to `actanywhere eval seams`): generates a synthetic shot with the given profile, global pass
plus tiled refinement, and prints the scores as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

Span = Tuple[int, int]


def border_lines(all_spans: Sequence[Span], length: int, scale: int = 1) -> List[int]:
    """Indices i (in units scaled by `scale`) where the difference between lines i-1 and i crosses a
    border: each span's inner edges and the middle of each overlap."""
    lines = set()
    for index, (start, stop) in enumerate(all_spans):
        for edge in (start * scale, stop * scale):
            if 0 < edge < length:
                lines.add(edge)
        if index > 0:
            middle = (start + all_spans[index - 1][1]) * scale // 2
            if 0 < middle < length:
                lines.add(middle)
    return sorted(lines)


def _line_energy(frames: np.ndarray, axis: int, keep: Optional[np.ndarray] = None) -> np.ndarray:
    """Mean squared difference between neighbouring lines along `axis`: index i is lines i-1 -> i
    (index 0 is unused). `keep` (T, H, W) bool: only pairs of pixels both kept count."""
    diff = np.diff(frames.astype(np.float64), axis=axis) ** 2
    other = tuple(a for a in range(frames.ndim) if a != axis)
    if keep is None:
        return np.concatenate([[np.nan], diff.mean(axis=other)])
    pairs = np.logical_and(np.delete(keep, -1, axis=axis), np.delete(keep, 0, axis=axis))[..., None]
    pairs = np.broadcast_to(pairs, diff.shape)
    counts = pairs.sum(axis=other)
    energy = np.where(counts > 0, (diff * pairs).sum(axis=other) / np.maximum(counts, 1), np.nan)
    return np.concatenate([[np.nan], energy])


def _ratio(energy: np.ndarray, lines: Iterable[int], margin: int, period: int = 1) -> Optional[float]:
    """Mean energy at the border lines over that of interior lines of the same phase modulo `period`
    (the VAE factor): a decoder draws each latent pixel as a period x period block, and lines between
    blocks differ from lines inside them whatever the tiling, so a border is compared with interior
    lines that fall at the same place in the latent grid."""
    lines = [line for line in lines if 0 < line < len(energy) and np.isfinite(energy[line])]
    if not lines:
        return None
    near = np.zeros(len(energy), bool)
    for line in lines:
        near[max(1, line - margin):line + margin + 1] = True
    interior = ~near & np.isfinite(energy)
    phase = np.arange(len(energy)) % period
    references = []
    for line in lines:
        same = interior & (phase == line % period)
        if not same.any():
            return None
        references.append(float(np.mean(energy[same])))
    return float(np.mean(energy[lines]) / max(float(np.mean(references)), 1e-12))


def seam_score(frames: np.ndarray, row_spans: Sequence[Span] = (), col_spans: Sequence[Span] = (),
               window_spans: Sequence[Span] = (), scale: int = 1, margin: int = 2,
               background: Optional[np.ndarray] = None) -> Dict[str, Optional[float]]:
    """frames (T, H, W[, C]); spans of the grid's tiles (in latent pixels, `scale` pixels each) and windows
    (frames). `background` (T, H, W) bool: only the generated background is scored (the subject is the
    plate's own and its edges are not seams). Returns {"rows", "cols", "frames": border/interior energy
    ratios or None, "score": the largest}."""
    frames = np.asarray(frames, np.float32)
    if frames.ndim == 3:
        frames = frames[..., None]
    count, height, width = frames.shape[:3]
    keep = None if background is None else np.asarray(background, bool)
    result = {
        "rows": _ratio(_line_energy(frames, 1, keep), border_lines(row_spans, height, scale), margin, scale),
        "cols": _ratio(_line_energy(frames, 2, keep), border_lines(col_spans, width, scale), margin, scale),
        "frames": (_ratio(_line_energy(frames, 0, keep), border_lines(window_spans, count), 0)
                   if count > 2 else None),
    }
    present = [value for value in result.values() if value is not None]
    result["score"] = max(present) if present else None
    return result


# -- evaluation on a synthetic shot --------------------------------------------------------------------
def synthetic_shot(width: int, height: int, frames: int):
    """A figure (an upright ellipse) walking over a sky-and-meadow plate; the condition is a dusk scene
    of the same layout. Model space, [0, 1]."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = xs / width, ys / height
    ground = y > 0.55
    meadow = np.where(ground[..., None], np.stack([0.3 + 0.05 * np.sin(x * 90), 0.55 + 0.2 * (y - 0.55),
                                                   0.2 + 0.0 * x], -1),
                      np.stack([0.35 + 0.3 * y, 0.55 + 0.3 * y, 0.95 - 0.1 * y], -1)).astype(np.float32)
    dusk = np.where((y > 0.6)[..., None], np.stack([0.25 - 0.1 * y, 0.18 - 0.08 * y, 0.2 - 0.05 * y], -1),
                    np.stack([0.95 - 0.5 * y, 0.55 - 0.4 * y, 0.35 + 0.2 * y], -1)).astype(np.float32)
    foreground = np.empty((frames, height, width, 3), np.float32)
    matte = np.empty((frames, height, width), np.float32)
    aspect = width / float(height)
    for index in range(frames):
        centre = 0.3 + 0.4 * index / max(1, frames - 1)
        distance = np.sqrt(((x - centre) * aspect / 0.06) ** 2 + ((y - 0.6) / 0.25) ** 2)
        alpha = np.clip((1.0 - distance) * 0.06 * height, 0.0, 1.0).astype(np.float32)
        matte[index] = alpha
        foreground[index] = np.array([0.8, 0.25, 0.2], np.float32) * alpha[..., None] + meadow * (1 - alpha[..., None])
    return np.clip(foreground, 0, 1), matte, np.clip(dusk, 0, 1)


def background_pixels(matte: np.ndarray, margin: int) -> np.ndarray:
    """(T, H, W) bool: pixels at least `margin` pixels away from any subject pixel (matte > 0)."""
    subject = np.asarray(matte) > 0
    grown = subject.copy()
    for axis in (1, 2):
        for shift in range(1, margin + 1):
            grown |= np.roll(subject, shift, axis) | np.roll(subject, -shift, axis)
        subject = grown.copy()
    return ~grown


def evaluate_seams(pipeline, width: int, height: int, frames: int, steps: int, guidance: float, tiling,
                   seed: int = 0, scheduler: str = "ddim", progress=None, scratch_dir: Optional[str] = None,
                   save: Optional[str] = None) -> dict:
    """Global pass at the model's native pixel count, tiled refinement at width x height, seam score of
    the refined frames at the refinement grid's borders (and of the global pass at its windows)."""
    from actanywhere.engine.media.resize import resize_image
    from actanywhere.engine.model.refine import PlateRefiner, TilingPlan

    plan = TilingPlan.from_settings(tiling, pipeline)
    foreground, matte, condition = synthetic_shot(width, height, frames)
    factor = pipeline.vae_scale_factor
    area = pipeline.profile.native_width * pipeline.profile.native_height
    aspect = width / float(height)
    working = (max(factor, int(round((area * aspect) ** 0.5 / factor)) * factor),
               max(factor, int(round((area / aspect) ** 0.5 / factor)) * factor))
    small_fg = np.stack([np.clip(resize_image(f, *working), 0, 1) for f in foreground])
    small_matte = np.stack([np.clip(resize_image(m, *working, "box"), 0, 1) for m in matte])
    started = time.perf_counter()
    global_frames = pipeline(small_fg, small_matte, condition, steps=steps, guidance_scale=guidance, seed=seed,
                             scheduler=scheduler, window_frames=plan.window_frames,
                             window_overlap=plan.window_overlap, progress=progress)
    refiner = PlateRefiner(pipeline, frames, width, height, plan, scratch_dir)
    for index in range(frames):
        refiner.add_input(index, foreground[index], matte[index])
        refiner.add_init(index, np.clip(resize_image(global_frames[index], width, height), 0, 1))
    refiner.run(global_frames, pipeline.encode_condition(condition), steps, guidance, scheduler, seed,
                progress or (lambda event: None), condition=condition)
    refined = np.stack([refiner.frame(index) for index in range(frames)])
    if save:
        np.savez_compressed(save, refined=refined, matte=matte)
    grid = refiner.grid
    score = seam_score(refined, grid.tile_rows, grid.tile_cols, grid.windows, scale=factor,
                       background=background_pixels(matte, factor * 2))
    refiner.close()
    return {
        "profile": pipeline.profile.name,
        "trained": bool(getattr(pipeline.model, "trained", True)),
        "plate": "%dx%dx%d" % (width, height, frames), "working_size": "%dx%d" % working,
        "steps": steps, "guidance": guidance, "plan": plan.to_dict(),
        "tiles": grid.tile_count, "windows": grid.window_count,
        "seam": score, "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv=None) -> int:
    from actanywhere.engine.model.pipeline import ActAnywherePipeline
    from actanywhere.engine.model.profile_files import UntrainedModelWarning
    from actanywhere.engine.settings import TilingSettings

    parser = argparse.ArgumentParser(prog="actanywhere eval seams", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--path", default=None, help="profile directory (default: the packaged one)")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=576)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tile-size", type=int, default=0, help="plate pixels; 0: the profile's default")
    parser.add_argument("--tile-overlap", type=float, default=0.25)
    parser.add_argument("--window-frames", type=int, default=16)
    parser.add_argument("--window-overlap", type=int, default=4)
    parser.add_argument("--refine-strength", type=float, default=0.4)
    parser.add_argument("--tile-batch", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="print progress to stderr")
    parser.add_argument("--save", metavar="NPZ", help="also save the refined frames and matte here")
    args = parser.parse_args(argv)
    tiling = TilingSettings(tile_size=args.tile_size, tile_overlap=args.tile_overlap, window_frames=args.window_frames,
                            window_overlap=args.window_overlap, refine_strength=args.refine_strength,
                            tile_batch=args.tile_batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        pipeline = ActAnywherePipeline.from_profile(args.profile, path=args.path, device=args.device)

    def report(event):
        if args.verbose:
            print("%s %d/%d eta %.0fs" % (event.stage, event.done, event.total, event.eta_s or 0), file=sys.stderr)

    result = evaluate_seams(pipeline, args.width, args.height, args.frames, args.steps, args.guidance, tiling,
                            seed=args.seed, progress=report, save=args.save)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
