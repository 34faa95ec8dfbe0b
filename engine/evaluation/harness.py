"""`actanywhere eval`: the model against the compositor's baselines on held-out synthetic clips.

For each test clip (a split written by engine/synth, generated into OUT_DIR/data when none is given)
and each seed, the model generates the clip's plate from its foreground segmentation, matte and one
condition image (the background-only image by default, or the composited condition frame); the
original subject is merged back over it (the comp). Baselines, built in the same run:

- tracked paste: the condition image warped into every frame by the plate's camera track, the
  subject over it (what a compositor does with a 2D track);
- paste: the subject over the condition image, in every frame (what a compositor does by hand);
- condition: the condition image alone, in every frame.

The model runs as generate runs it: the plate (the clip's frames) tracked relative to the condition
frame, the condition warped into each frame (camera/); `model_static` is the same model with the
condition stretched over every frame alike, the ablation of the camera track; `model_no_interaction`
(profiles with an interaction pass) the same plate before that pass drew the subject's shadow and
contact, and `model_no_hint` (where the hint is read) the pass without the plate's shadow hint. On a new-scene split (`actanywhere synth --new-scene`) the plate is the clip's own world and the
camera is tracked, and the shadow hint read, on it; on a plain split the plate is the ground truth, so
its shadow is not read (that would score a copy).

Every method is scored against the ground truth (groundtruth_metrics.py), and, with real weights,
with CLIP_cond / CLIP_temp (clip_metrics.py) and FVD (fvd.py). The report (report.md, metrics.csv,
summary.csv, eval_*.png, sheets/) lands in OUT_DIR. The baselines do not depend on the seed: they are
computed once per clip and repeated under every seed, so their spread over seeds is 0.

    python -m actanywhere.engine.evaluation.harness OUT_DIR [--clips 8] [--seeds 0,1,2] [--steps N]
        [--model tiny] [--model-path DIR] [--clip-encoder DIR] [--i3d FILE] [--condition background]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from ..errors import ConfigError
from ..progress import EtaClock, ProgressCallback, ProgressEvent, ignore_progress
from . import report as report_module
from ..camera.condition_warp import SpatialCondition, shown_subject
from ..camera.shadow_hint import shadow_hint
from .groundtruth_metrics import composite_subject, ground_truth_metrics, regions
from .plate_metrics import plate_metrics

CONDITIONS = ("background", "composite")
DEFAULT_SEEDS = (0, 1, 2)
DATASET_SEED = 0
DEFAULT_SIZE = (64, 64)
DEFAULT_FRAMES = 16


@dataclass
class EvalClip:
    """One ground-truth clip in memory, display-referred float32 in [0, 1]."""

    id: str
    frames: np.ndarray  # (T, H, W, 3) ground truth: the subject over the scene with its interactions
    matte: np.ndarray  # (T, H, W)
    foreground: np.ndarray  # (T, H, W, 3) subject over `grey`
    interaction: np.ndarray  # (T, H, W)
    condition_background: np.ndarray  # (H, W, 3)
    condition_composite: np.ndarray  # (H, W, 3)
    grey: float = 0.5
    info: Optional[dict] = None
    background: Optional[np.ndarray] = None  # (T, H, W, 3) the clean scene: no subject, shadow or effect
    condition_index: int = 0  # the frame the condition images show
    # New-scene splits: the plate, the subject in its own world under the same light (T, H, W, 3). None:
    # the plate is `frames` (the new scene is the plate's own).
    plate: Optional[np.ndarray] = None
    scene: Optional[np.ndarray] = None  # (T, H, W, 3) the truth without the subject (read when asked for)

    @property
    def plate_frames(self) -> np.ndarray:
        """What the compositor has: the plate the camera is tracked on and the shadow hint read from."""
        return self.frames if self.plate is None else self.plate

    def true_track(self):
        """The synthetic camera's exact track relative to the condition frame (a CameraTrack), or None
        when the manifest has no camera path."""
        from ..synth.clips import ground_truth_track

        if not self.info or "camera_path" not in self.info:
            return None
        height, width = self.frames.shape[1:3]
        return ground_truth_track(self.info["camera_path"], width, height, self.condition_index)

    def true_camera_path(self) -> Optional[np.ndarray]:
        """(T, 2) where the condition frame's centre lies in each frame, from the synthetic camera."""
        track = self.true_track()
        height, width = self.frames.shape[1:3]
        return None if track is None else track.reference_centre_path(width, height)

    def condition(self, kind: str) -> np.ndarray:
        return self.condition_background if kind == "background" else self.condition_composite


# -- data --------------------------------------------------------------------------------------------------------
def ground_truth_file(split: str) -> str:
    """The ground_truth.yaml of a split folder (or the file itself)."""
    path = os.path.join(split, "ground_truth.yaml") if os.path.isdir(split) else split
    if not os.path.isfile(path):
        raise ConfigError("%s: no ground_truth.yaml; give a split folder written by `actanywhere synth` "
                          "(e.g. data/test) or leave it out to generate test clips" % split)
    return path


def prepare_split(out_dir: str, clips: int, size=DEFAULT_SIZE, frames: int = DEFAULT_FRAMES,
                  dataset_seed: int = DATASET_SEED, log: Callable[[str], None] = print) -> str:
    """OUT_DIR/data/test/ground_truth.yaml with at least `clips` held-out test clips of `size` x `frames`,
    written by engine/synth unless a matching one is already there (a cache)."""
    from ..synth import generate_dataset, read_ground_truth

    data_dir = os.path.join(out_dir, "data")
    path = os.path.join(data_dir, "test", "ground_truth.yaml")
    if os.path.isfile(path):
        header = read_ground_truth(path)
        if (list(header.get("size", [])) == [int(size[0]), int(size[1])] and header.get("frames") == frames
                and header.get("dataset_seed") == dataset_seed and len(header["clips"]) >= clips
                and header.get("file_format") == "png" and "camera_path" in header["clips"][0]):
            return path
    started = time.monotonic()
    generate_dataset(data_dir, "test", count=clips, size=size, frames=frames, seed=dataset_seed)
    log("generated %d held-out test clips (%dx%d x %d frames, dataset seed %d) in %.1f s: %s" % (
        clips, size[0], size[1], frames, dataset_seed, time.monotonic() - started, path))
    return path


def _read_colour(path: str) -> np.ndarray:
    from ..media import read_image

    pixels, _ = read_image(path)
    return np.ascontiguousarray(pixels[..., :3], np.float32)


def _read_mask(path: str) -> np.ndarray:
    from ..media import read_matte

    return np.ascontiguousarray(read_matte(path), np.float32)


def read_clips(path: str, count: Optional[int] = None) -> List[EvalClip]:
    """The first `count` clips of a ground_truth.yaml (PNG splits; EXR splits would need a colour
    conversion to the model's display-referred space, so they are refused)."""
    return list(iter_clips(path, count))


def iter_clips(path: str, count: Optional[int] = None, with_scene: bool = False) -> Iterator[EvalClip]:
    """read_clips, one clip at a time (a training split need not fit in memory as float32); `with_scene`
    also reads each clip's `scene` (the truth without the subject)."""
    from ..synth import read_ground_truth

    header = read_ground_truth(path)
    if header.get("file_format", "png") != "png":
        raise ConfigError("%s: an %s split; evaluate a PNG split (display-referred, what the model consumes)"
                          % (path, header.get("file_format")))
    first = int(header["first_frame"])
    numbers = range(first, first + int(header["frames"]))
    entries = header["clips"][:count] if count else header["clips"]
    for entry in entries:
        def sequence(key, reader):
            return np.stack([reader(entry[key].replace("####", "%04d" % n)) for n in numbers])

        yield EvalClip(
            id=entry["id"], frames=sequence("frames", _read_colour), matte=sequence("matte", _read_mask),
            foreground=sequence("foreground", _read_colour), interaction=sequence("interaction", _read_mask),
            condition_background=_read_colour(entry["condition_background"]),
            condition_composite=_read_colour(entry["condition_composite"]),
            grey=float(header.get("foreground_grey", 0.5)), info=entry,
            background=sequence("clean", _read_colour) if "clean" in entry else None,
            condition_index=int(entry.get("condition_frame", first)) - first,
            plate=sequence("plate", _read_colour) if "plate" in entry else None,
            scene=sequence("scene", _read_colour) if with_scene else None)


# -- methods ------------------------------------------------------------------------------------------------------
def plate_track(clip: EvalClip, notes: List[str]):
    """The clip's camera, tracked from its plate (the frames) as generate tracks a shot; a static track,
    with a note, when the tracker refuses the clip."""
    from ..camera.track import CameraTrack
    from ..camera.tracker import track_frames
    from ..errors import MediaError

    frames = clip.frames.shape[0]
    plate = clip.plate_frames
    try:
        return track_frames([(index, plate[index], clip.matte[index]) for index in range(frames)],
                            clip.condition_index, source="clip %s" % clip.id)
    except MediaError as error:
        notes.append("clip %s: camera not tracked, taken as static (%s)" % (clip.id, error))
        return CameraTrack.static(list(range(frames)), clip.condition_index)


def tracked_paste_baseline(clip: EvalClip, spatial) -> np.ndarray:
    """The subject over the condition image warped into each frame by the plate's track."""
    height, width = clip.frames.shape[1:3]
    return composite_subject(spatial.all_frames(width, height), clip.foreground, clip.matte, clip.grey)


def paste_baseline(clip: EvalClip, condition: np.ndarray) -> np.ndarray:
    """The subject over the (static) condition image in every frame."""
    plate = np.broadcast_to(np.asarray(condition, np.float32), clip.frames.shape)
    return composite_subject(plate, clip.foreground, clip.matte, clip.grey)


def condition_baseline(clip: EvalClip, condition: np.ndarray) -> np.ndarray:
    """The condition image alone in every frame (no subject)."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(condition, np.float32), clip.frames.shape))


def _check_condition_size(clip: EvalClip, condition: np.ndarray) -> None:
    if condition.shape != clip.frames.shape[1:]:
        raise ConfigError("clip %s: condition image %s differs from the frames %s" % (
            clip.id, condition.shape, clip.frames.shape[1:]))


def load_pipeline(profile: str, profile_path: Optional[str], device: str):
    """The profile's pipeline. An untrained fallback model is not warned about here: the report says so."""
    from ..model.pipeline import ActAnywherePipeline
    from ..model.profile_files import UntrainedModelWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        return ActAnywherePipeline.from_profile(profile, profile_path, device)


# -- the run ------------------------------------------------------------------------------------------------------
def run_eval(out_dir: str, split_dir: Optional[str] = None, clips: int = 8, seeds: Sequence[int] = DEFAULT_SEEDS,
             steps: Optional[int] = None, profile: str = "tiny", profile_path: Optional[str] = None,
             clip_encoder=None, i3d=None, condition: str = "background", guidance_scale: Optional[float] = None,
             device: str = "cpu", size=DEFAULT_SIZE, frames: int = DEFAULT_FRAMES, pipeline=None,
             command: Optional[str] = None, sheets: int = 4, progress: Optional[ProgressCallback] = None,
             log: Callable[[str], None] = print) -> str:
    """Runs the evaluation and writes the report into `out_dir`; returns the path of report.md.

    split_dir: a split folder (or its ground_truth.yaml); None generates `clips` test clips of `size`
    (width, height) x `frames` into out_dir/data (reused when present). clip_encoder: a local folder of a
    CLIPVisionModelWithProjection, or an encoder object (clip_metrics.py); i3d: a TorchScript I3D file,
    or an extractor object (fvd.py). Numbers from encoders that are not real weights are never
    reported. pipeline: an ActAnywherePipeline to use instead of loading `profile`."""
    from ..model.interaction import apply_gains
    from .clip_metrics import clip_scores, load_clip_encoder
    from .fvd import frechet_distance_of_features, load_i3d

    started = time.monotonic()
    progress = progress or ignore_progress
    if condition not in CONDITIONS:
        raise ConfigError("condition %r: use one of %s" % (condition, ", ".join(CONDITIONS)))
    seeds = [int(seed) for seed in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError("seeds %s: give distinct seeds (at least 3 for a spread)" % (seeds,))
    if clips < 1:
        raise ConfigError("clips %d: evaluate at least one clip" % clips)
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    truth = ground_truth_file(split_dir) if split_dir else prepare_split(out_dir, clips, size, frames, log=log)
    data = read_clips(truth, clips)
    if len(data) < clips:
        log("note: %s holds %d clips, fewer than the %d asked for" % (truth, len(data), clips))
    encoder = load_clip_encoder(clip_encoder) if isinstance(clip_encoder, str) else clip_encoder
    extractor = load_i3d(i3d) if isinstance(i3d, str) else i3d
    if pipeline is None:
        pipeline = load_pipeline(profile, profile_path, device)
    untrained = not pipeline.model.trained  # also true of a pipeline the caller passed in
    model_profile = pipeline.profile
    steps = int(steps if steps is not None else model_profile.default_steps)
    guidance = float(guidance_scale if guidance_scale is not None else model_profile.default_guidance_scale)
    notes: List[str] = []
    if pipeline.model.interaction is not None:
        if any(clip.plate is not None for clip in data):
            notes.append("shadow hint: read off each clip's plate (a new-scene split: the plate shows the subject "
                         "in its own world, the ground truth in another under the same light)")
        else:
            notes.append("shadow hint not used: this split's plate is its ground truth, and reading its shadow "
                         "would score a copy; `actanywhere synth --new-scene` writes a split that measures it")
    if encoder is not None and not getattr(encoder, "is_real", False):
        notes.append("CLIP metrics not computed: the encoder %r is not real CLIP weights (test only)"
                     % getattr(encoder, "name", encoder))
        encoder = None

    rows: List[dict] = []
    videos: Dict[str, Dict[int, List[np.ndarray]]] = {m: {s: [] for s in seeds} for m in report_module.METHODS}
    sheet_outputs = []
    total = len(data) * len(seeds)
    clock = EtaClock()
    model_seconds = 0.0
    for clip_index, clip in enumerate(data):
        image = clip.condition(condition)
        _check_condition_size(clip, image)
        masks = regions(clip.matte, clip.interaction)
        true_path = clip.true_camera_path()
        track = plate_track(clip, notes)
        at = clip.condition_index
        spatial = SpatialCondition(image, clip.frames.shape[0], track,
                                   subject=shown_subject(image, clip.frames[at], clip.matte[at]))
        # The plate's shadow hint only where the plate is not the answer: on a plain split the plate's
        # shadow is the ground truth's own, and reading it would score a copy, not a model.
        hint = None
        if clip.plate is not None and pipeline.model.interaction is not None:
            hint = shadow_hint(clip.plate, clip.matte, track)

        def score(video):
            values = ground_truth_metrics(video, clip.frames, clip.matte, clip.interaction, clip.foreground,
                                          masks=masks)
            values.update(plate_metrics(video, clip.frames, clip.background, masks, clip.matte, true_path,
                                        clip.condition_index))
            return values

        baselines = {"tracked_paste": tracked_paste_baseline(clip, spatial), "paste": paste_baseline(clip, image),
                     "condition": condition_baseline(clip, image)}
        baseline_scores = {}
        for method, video in baselines.items():
            scores = score(video)
            if encoder is not None:
                scores.update(clip_scores(video, image, encoder))
            baseline_scores[method] = scores
        for seed_index, seed in enumerate(seeds):
            tick = time.monotonic()
            plain = pipeline(clip.foreground, clip.matte, image, steps=steps, guidance_scale=guidance, seed=seed,
                             spatial=spatial, interaction=False)
            gains = pipeline.interaction_gains(clip.foreground, clip.matte, image, spatial, hint)
            raw = plain if gains is None else apply_gains(plain, gains)
            model_seconds += time.monotonic() - tick
            static = pipeline(clip.foreground, clip.matte, image, steps=steps, guidance_scale=guidance, seed=seed)
            outputs = {"model": composite_subject(raw, clip.foreground, clip.matte, clip.grey),
                       "model_static": composite_subject(static, clip.foreground, clip.matte, clip.grey),
                       "model_raw": raw}
            if gains is not None:  # the ablation of the interaction pass
                outputs["model_no_interaction"] = composite_subject(plain, clip.foreground, clip.matte, clip.grey)
            if hint is not None:  # and of the plate's shadow hint: the pass from the subject and the scene alone
                unhinted = apply_gains(plain, pipeline.interaction_gains(clip.foreground, clip.matte, image, spatial))
                outputs["model_no_hint"] = composite_subject(unhinted, clip.foreground, clip.matte, clip.grey)
            for method, video in outputs.items():
                scores = score(video)
                if encoder is not None and method == "model":
                    scores.update(clip_scores(video, image, encoder))
                rows.append(dict({"method": method, "seed": seed, "clip": clip.id}, **scores))
            for method, scores in baseline_scores.items():
                rows.append(dict({"method": method, "seed": seed, "clip": clip.id}, **scores))
            if extractor is not None:
                for method, video in list(outputs.items()) + list(baselines.items()):
                    videos[method][seed].append(video)
            if seed_index == 0 and clip_index < sheets:
                sheet_outputs.append((clip, dict(outputs, **baselines), masks["band"], image))
            done = clip_index * len(seeds) + seed_index + 1
            progress(ProgressEvent("eval", done, total, eta_s=clock.eta(done, total),
                                   message="%s seed %d" % (clip.id, seed)))
            log("eval %d/%d: %s seed %d (%.1f s)" % (done, total, clip.id, seed, time.monotonic() - tick))

    if extractor is not None:
        real = extractor(np.stack([clip.frames for clip in data]))
        if not getattr(extractor, "is_real", False):
            notes.append("FVD not computed: the I3D %r is not real I3D weights (test only)"
                         % getattr(extractor, "name", extractor))
        else:
            for method in ("model", "tracked_paste", "paste", "condition"):
                for seed in seeds:
                    fake = extractor(np.stack(videos[method][seed]))
                    rows.append({"method": method, "seed": seed, "clip": report_module.SET_ROW,
                                 "fvd": frechet_distance_of_features(real, fake)})
            if len(data) < 64:
                notes.append("FVD over %d clips: a small sample biases FVD upward; compare methods only with "
                             "each other" % len(data))
    if encoder is None and not any(n.startswith("CLIP") for n in notes):
        notes.append("CLIP_cond / CLIP_temp not computed: no real CLIP image encoder given (--clip-encoder DIR, "
                     "a local CLIPVisionModelWithProjection such as ViT-L/14)")
    if extractor is None:
        notes.append("FVD not computed: no I3D weights given (--i3d FILE, a TorchScript I3D such as StyleGAN-V's "
                     "i3d_torchscript.pt)")

    wall = time.monotonic() - started
    meta = {
        "command": command or "run_eval(%r)" % out_dir,
        "ground_truth": truth,
        "clips": [clip.id for clip in data],
        "seeds": seeds,
        "profile": model_profile.name,
        "profile_path": profile_path,
        "untrained": untrained,
        "checksum": getattr(pipeline.model, "checksum", None),
        "steps": steps,
        "guidance_scale": guidance,
        "scheduler": model_profile.default_scheduler,
        "condition": condition,
        "size": list(data[0].frames.shape[1:3][::-1]),
        "frames": int(data[0].frames.shape[0]),
        "wall_s": round(wall, 1),
        "model_s": round(model_seconds, 1),
        "clip_encoder": getattr(encoder, "name", None),
        "i3d": getattr(extractor, "name", None) if extractor is not None else None,
        "notes": notes,
    }
    path = write_report(out_dir, rows, meta, sheet_outputs)
    log("evaluation of %d clips x %d seeds in %.1f s (model %.1f s): %s" % (len(data), len(seeds), wall,
                                                                             model_seconds, path))
    return path


def write_report(out_dir: str, rows: List[dict], meta: dict, sheet_outputs=()) -> str:
    """report.md, metrics.csv (per clip and seed), summary.csv, results.json, eval_*.png, sheets/*.png."""
    from ..preview import write_png

    summary = report_module.summarise(rows)
    report_module.write_rows_csv(os.path.join(out_dir, "metrics.csv"), rows)
    report_module.write_summary_csv(os.path.join(out_dir, "summary.csv"), summary)
    plots = report_module.write_plots(out_dir, summary)
    sheet_paths = []
    if sheet_outputs:
        os.makedirs(os.path.join(out_dir, "sheets"), exist_ok=True)
    for clip, outputs, band, image in sheet_outputs:
        sheet_path = os.path.join(out_dir, "sheets", "eval_sheet_%s.png" % clip.id)
        write_png(sheet_path, report_module.clip_sheet(clip.frames, outputs, band, image))
        sheet_paths.append(sheet_path)
    checks = report_module.goal_checks(summary)
    lost = report_module.losses(summary)
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as stream:
        table = {method: {key: list(value) for key, value in values.items()} for method, values in summary.items()}
        json.dump({"meta": meta, "summary": table,
                   "checks": [{"claim": c, "passed": p, "detail": d} for c, p, d in checks], "losses": lost},
                  stream, indent=2, default=str)

    lines = ["# ActAnywhere evaluation", ""]
    status = ("**UNTRAINED model** (no weights for profile '%s': numbers show the harness works, not the method)"
              % meta["profile"]) if meta["untrained"] else "trained model, profile '%s'" % meta["profile"]
    lines += [
        "- model: %s; checksum `%s`%s" % (status, meta["checksum"],
                                          "; weights from %s" % meta["profile_path"] if meta["profile_path"] else ""),
        "- sampling: %d steps, guidance %.2f, %s; condition image: %s" % (
            meta["steps"], meta["guidance_scale"], meta["scheduler"], meta["condition"]),
        "- data: %d held-out clips (%s), %dx%d x %d frames; seeds %s" % (
            len(meta["clips"]), meta["ground_truth"], meta["size"][0], meta["size"][1], meta["frames"],
            ", ".join(str(s) for s in meta["seeds"])),
        "- command: `%s`" % meta["command"],
        "- wall time: %.1f s (model %.1f s)" % (meta["wall_s"], meta["model_s"]),
        "",
        "Mean ± standard deviation over seeds of the per-seed mean over clips (baselines do not depend on the "
        "seed). Definitions: docs/evaluation.md.",
        "",
        report_module.markdown_table(summary),
        "",
        "## Goal checks",
        "",
    ]
    for claim, passed, detail in checks:
        mark = "n/a" if passed is None else ("PASS" if passed else "FAIL")
        lines.append("- %s: **%s** (%s)" % (claim, mark, detail))
    lines += ["", "## Where the model loses to the paste baseline", ""]
    lines += ["- %s" % item for item in lost] or ["- nowhere"]
    if meta["notes"]:
        lines += ["", "## Notes", ""] + ["- %s" % note for note in meta["notes"]]
    lines += ["", "## Pictures", ""]
    lines += ["![%s](%s)" % (os.path.basename(p), os.path.relpath(p, out_dir)) for p in plots + sheet_paths]
    lines.append("")
    path = os.path.join(out_dir, "report.md")
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("\n".join(lines))
    return path


# -- the command line ---------------------------------------------------------------------------------------------
def parse_seeds(text) -> List[int]:
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    try:
        return [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise ConfigError("--seeds %r: write comma-separated integers, e.g. 0,1,2" % (text,)) from None


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `actanywhere eval OUT_DIR`."""
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder for report.md, CSV, plots and sheets")
    parser.add_argument("--split", dest="split_dir", default=None,
                        help="a split folder written by `actanywhere synth` (default: generate test clips "
                             "into OUT_DIR/data)")
    parser.add_argument("--clips", type=int, default=8, help="held-out clips to evaluate (default 8)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated sampling seeds (default 0,1,2)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    parser.add_argument("--model", dest="profile", default="tiny", help="model profile name (default tiny)")
    parser.add_argument("--model-path", dest="profile_path", default=None, help="a profile directory to load")
    parser.add_argument("--clip-encoder", default=None,
                        help="local folder of a CLIPVisionModelWithProjection (ViT-L/14 for the paper's metric)")
    parser.add_argument("--i3d", default=None, help="local TorchScript I3D file (StyleGAN-V's i3d_torchscript.pt)")
    parser.add_argument("--condition", choices=CONDITIONS, default="background",
                        help="condition image: the background-only image (default) or the composited frame")
    parser.add_argument("--size", default="64x64", help="WIDTHxHEIGHT of generated test clips (default 64x64)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames per generated test clip")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    return parser


def run_from_args(args: argparse.Namespace, argv: Optional[Sequence[str]] = None,
                  progress: Optional[ProgressCallback] = None, log: Callable[[str], None] = print) -> str:
    from ..synth.writer import parse_size

    command = "actanywhere eval " + " ".join(shlex.quote(a) for a in argv) if argv is not None else None
    return run_eval(args.out_dir, split_dir=args.split_dir, clips=args.clips, seeds=parse_seeds(args.seeds),
                    steps=args.steps, profile=args.profile, profile_path=args.profile_path,
                    clip_encoder=args.clip_encoder, i3d=args.i3d, condition=args.condition,
                    guidance_scale=args.guidance, device=args.device, size=parse_size(args.size),
                    frames=args.frames, command=command, progress=progress, log=log)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = add_arguments(argparse.ArgumentParser(prog="actanywhere eval", description=__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run_from_args(args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
