"""Training a profile's interaction pass (model/interaction.py): the subject's shadow and contact effects.

The pass predicts a gain that turns the condition, as each frame sees it, into the ground truth's
plate: the same scene with the subject's cast shadow, dust, ripples and footprints. It is a regression
on synthetic clips (engine/synth), which hold exactly that pair: the clean scene's condition image and
the frames with every interaction drawn. For each clip of the split:

- the condition image (the clean scene at the clip's `condition_frame`) is warped into every frame by
  the synthetic camera's exact track (generate tracks the plate instead; the tracker is within a pixel);
- the input is what generate hands the pass: the matte of the frame and of the two before it, the
  foreground segmentation, the warped condition, its validity and the plate's shadow hint
  (camera/shadow_hint.py). A share of the samples (`data.working_size_rate`) takes the foreground, the
  matte and the hint through the model's working size and back (generate samples at 64x64 and the pass
  reads those frames, upscaled); `data.hint_dropout` of them see no hint (a plate without one, or
  `camera.shadow_hint: false`);
- the plate is the clip's `plate` on a new-scene split (`actanywhere synth --new-scene`: the subject in
  its own world, the ground truth in another under the same light), so the pass learns to carry the
  plate's darkening onto another ground; on a plain split it is the frames themselves;
- the loss (autoencoder.pixel_losses: L1, L2, edge, colour) is taken on the background plate the tool
  delivers (the `bg` pass): the truth's scene without the subject, with its shadow and effects, also
  under the subject (a compositor pulls a new comp from the bg pass; a gain left free there drew a dark
  ghost of the subject). The pixels the condition does not cover are the truth's: only the ground the
  pass can change counts.

Every sample is mirrored left-right at random (with its light: the subject's shading says from which
side it comes). The U-Net, VAE, image encoder and detail pass are not touched; the profile gains
`interaction/` and `interaction_pass: true`.

    actanywhere train-interaction interaction.yaml    # -> output_dir/profile

Every random choice comes from `seed`.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from actanywhere.engine import schema
from actanywhere.engine.errors import ConfigError
from actanywhere.engine.progress import EtaClock, ProgressCallback, ProgressEvent, ignore_progress
from actanywhere.engine.schema import setting
from actanywhere.engine.training.config import load_config_file, reporter
from actanywhere.engine.training.autoencoder import AutoencoderLoss, check_rate, pixel_losses
from actanywhere.engine.training.decoder_finetune import PROFILE_DIR, fit, to_tensor, to_uint8

logger = logging.getLogger(__name__)

INTERACTION_SCHEMA_VERSION = 1
LOSS_FILE = "interaction_loss.csv"


@dataclass
class InteractionData:
    split: str = setting(is_path=True, help="a split folder written by `actanywhere synth` (its "
                                            "ground_truth.yaml), PNG, with the camera path of each clip")
    clips: int = setting(0, minimum=0, help="clips to read from the split (0: all)")
    working_size: int = setting(64, minimum=8, help="the model's working height, through which "
                                                    "working_size_rate of the samples' foreground and matte go")
    working_size_rate: float = setting(0.5, check=check_rate,
                                       help="share of samples whose foreground, matte and hint come at the "
                                            "working size, upscaled, as generate hands them to the pass")
    hint_dropout: float = setting(0.25, check=check_rate,
                                  help="share of samples that see no shadow hint, as with a plate that shows none")


@dataclass
class InteractionConfig:
    data: InteractionData
    init: str = setting(is_path=True, help="the trained profile directory the interaction pass is added to")
    output_dir: str = setting(is_path=True, help="where profile/, interaction_loss.csv and "
                                                 "interaction_training.json go")
    schema_version: int = setting(INTERACTION_SCHEMA_VERSION, choices=(INTERACTION_SCHEMA_VERSION,))
    loss: AutoencoderLoss = field(default_factory=lambda: AutoencoderLoss(l1=1.0, l2=1.0, edge=0.5, colour=1.0,
                                                                          kl=0.0))
    width: int = setting(16, minimum=4, help="the interaction net's channels at full resolution, when the "
                                             "profile has none yet")
    steps: int = setting(1500, minimum=1, help="optimizer steps")
    batch_size: int = setting(12, minimum=1, help="frames per step")
    learning_rate: float = setting(1e-3, minimum=0.0, help="AdamW peak learning rate")
    warmup_steps: int = setting(50, minimum=0, help="linear warm-up, then cosine decay to min_lr_fraction")
    min_lr_fraction: float = setting(0.1, minimum=0.0, maximum=1.0, help="final learning rate / peak")
    max_grad_norm: float = setting(1.0, minimum=0.0, help="gradient clipping; 0 disables it")
    seed: int = setting(0, minimum=0, help="seeds the batches, the mirroring and the working-size picks")
    threads: int = setting(0, minimum=0, help="torch CPU threads (0: torch's default)")
    log_every: int = setting(10, minimum=1, help="steps between rows in interaction_loss.csv")


def load_interaction_config(path: str, environ=None) -> InteractionConfig:
    """Read and check an interaction training config (config.load_config_file)."""
    return load_config_file(InteractionConfig, path, "interaction training config", environ)


@dataclass
class InteractionSamples:
    """Every frame of the split, uint8, at the clips' size (which is the pass's work size)."""

    frames: np.ndarray  # (N, T, H, W, 3) the ground truth: the scene without the subject (the bg pass)
    mattes: np.ndarray  # (N, T, H, W)
    foreground: np.ndarray  # (N, T, H, W, 3)
    views: np.ndarray  # (N, T, H, W, 3) the condition warped into each frame
    validity: np.ndarray  # (N, T, H, W)
    hints: np.ndarray  # (N, T, H, W) int8, the plate's shadow hint x 127 at the clips' size
    small_hints: np.ndarray  # (N, T, H, W) int8, the same read at the working size and upscaled


def read_samples(config: InteractionConfig, progress: ProgressCallback = ignore_progress) -> InteractionSamples:
    import cv2

    from actanywhere.engine.camera.condition_warp import SpatialCondition, stretch_image
    from actanywhere.engine.camera.shadow_hint import shadow_hint
    from actanywhere.engine.evaluation.harness import ground_truth_file, iter_clips
    from actanywhere.engine.model.interaction import work_size
    from actanywhere.engine.synth import read_ground_truth

    path = ground_truth_file(config.data.split)
    header = read_ground_truth(path)
    width, height = (int(v) for v in header["size"])
    if work_size(width, height) != (width, height):
        raise ConfigError("%s: clips of %dx%d; the interaction pass trains at its work size %dx%d: write the "
                          "split with `actanywhere synth --size %dx%d`" % ((path, width, height) + work_size(width, height) * 2))
    count = min(config.data.clips or len(header["clips"]), len(header["clips"]))
    parts = {name: [] for name in ("frames", "mattes", "foreground", "views", "validity", "hints", "small_hints")}
    small = (max(8, int(round(width * config.data.working_size / height))), config.data.working_size)
    clock = EtaClock()
    for index, clip in enumerate(iter_clips(path, count, with_scene=True)):
        track = clip.true_track()
        if track is None:
            raise ConfigError("%s: clip %s has no camera_path; write the split again with this version of "
                              "`actanywhere synth`" % (path, clip.id))
        frames = clip.frames.shape[0]
        spatial = SpatialCondition(clip.condition_background, frames, track)
        parts["frames"].append(to_uint8(clip.scene))
        parts["mattes"].append(to_uint8(clip.matte))
        parts["foreground"].append(to_uint8(clip.foreground))
        parts["views"].append(to_uint8(spatial.all_frames(width, height)))
        parts["validity"].append(to_uint8(np.stack([spatial.validity(t, width, height) for t in range(frames)])))
        parts["hints"].append(to_int8(shadow_hint(clip.plate_frames, clip.matte, track)))
        small_plate = np.stack([stretch_image(frame, *small) for frame in clip.plate_frames])
        small_matte = np.stack([stretch_image(matte[..., None].repeat(3, -1), *small)[..., 0] for matte in clip.matte])
        small_hint = shadow_hint(small_plate, small_matte, track)
        parts["small_hints"].append(to_int8(np.stack([cv2.resize(h, (width, height), interpolation=cv2.INTER_LINEAR)
                                                      for h in small_hint])))
        progress(ProgressEvent("read", index + 1, count, eta_s=clock.eta(index + 1, count), message=clip.id))
    return InteractionSamples(**{name: np.stack(arrays) for name, arrays in parts.items()})


def to_int8(values: np.ndarray) -> np.ndarray:
    return np.round(np.clip(values, -1, 1) * 127).astype(np.int8)


def batch_inputs(samples: InteractionSamples, clips: np.ndarray, times: np.ndarray, mirror: np.ndarray,
                 low_res: np.ndarray, working_size: int, with_hint: np.ndarray):
    """The network's inputs and the targets of one batch: (B, C, H, W) inputs, the target frames, the
    views and the loss weight (1 where the pass can change the plate), all float in [0, 1]."""
    import torch
    import torch.nn.functional as F

    from actanywhere.engine.model.interaction import PAST_MATTES, net_inputs

    inputs, targets, views, weights = [], [], [], []
    height, width = samples.mattes.shape[2:4]
    for clip, time_index, flip, small, hinted in zip(clips, times, mirror, low_res, with_hint):
        history = [max(0, time_index - lag) for lag in range(PAST_MATTES, -1, -1)]  # oldest first
        mattes = to_tensor(samples.mattes[clip, history], low=0.0)  # (PAST_MATTES + 1, 1, H, W)
        rgb = to_tensor(samples.foreground[clip, time_index:time_index + 1], low=0.0)
        if small:  # through the model's working size and back, as generate feeds the pass
            low = (working_size, max(8, int(round(width * working_size / height))))
            mattes = F.interpolate(F.interpolate(mattes, size=low, mode="area"), size=(height, width),
                                   mode="bilinear", align_corners=False).clamp(0, 1)
            rgb = F.interpolate(F.interpolate(rgb, size=low, mode="area"), size=(height, width),
                                mode="bilinear", align_corners=False).clamp(0, 1)
        view = to_tensor(samples.views[clip, time_index:time_index + 1], low=0.0)
        valid = to_tensor(samples.validity[clip, time_index:time_index + 1], low=0.0)
        target = to_tensor(samples.frames[clip, time_index:time_index + 1], low=0.0)
        hints = samples.small_hints if small else samples.hints
        hint = torch.from_numpy(hints[clip, time_index:time_index + 1].astype(np.float32) / 127.0)[:, None]
        hint = hint if hinted else torch.zeros_like(hint)
        sample_inputs = net_inputs(mattes[-1:], rgb, view, valid, past_mattes=mattes[:-1], hint=hint)
        weight = (valid > 0.999).float()
        tensors = [sample_inputs, target, view, weight]
        if flip:
            tensors = [tensor.flip(-1) for tensor in tensors]
        for store, tensor in zip((inputs, targets, views, weights), tensors):
            store.append(tensor)
    return tuple(torch.cat(store) for store in (inputs, targets, views, weights))


@dataclass
class InteractionResult:
    output_dir: Path
    profile_dir: Path
    losses: List[tuple] = field(default_factory=list)
    read_seconds: float = 0.0
    train_seconds: float = 0.0


def run_interaction_training(config_path: str, progress: Optional[ProgressCallback] = None,
                             log: Optional[Callable[[str], None]] = None) -> InteractionResult:
    """`actanywhere train-interaction CONFIG`."""
    return train_interaction(load_interaction_config(config_path), progress=progress, log=log)


def train_interaction(config: InteractionConfig, progress: Optional[ProgressCallback] = None,
                      log: Optional[Callable[[str], None]] = None) -> InteractionResult:
    """Read the split, train the interaction net, write output_dir/profile (the init profile with the
    pass), interaction_loss.csv and interaction_training.json."""
    import torch

    from actanywhere.engine.model.interaction import InteractionNet
    from actanywhere.engine.model.profile_files import load_pretrained, save_pretrained

    progress = progress or ignore_progress

    say = reporter(logger, log)
    if config.threads:
        torch.set_num_threads(config.threads)
    model = load_pretrained(config.init, device="cpu", dtype=torch.float32)
    if not model.trained:
        raise ConfigError("init: %s holds an untrained model; add the interaction pass to a trained profile"
                          % config.init)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "interaction_training.json").write_text(json.dumps(schema.to_data(config), indent=2) + "\n")
    result = InteractionResult(output_dir, output_dir / PROFILE_DIR)

    started = time.monotonic()
    samples = read_samples(config, progress)
    result.read_seconds = time.monotonic() - started
    clips, frames = samples.mattes.shape[:2]
    say("read %d clips of %d frames (%dx%d) in %.0f s" % (clips, frames, samples.mattes.shape[3],
                                                          samples.mattes.shape[2], result.read_seconds))

    torch.manual_seed(config.seed)
    net = model.interaction if model.interaction is not None else InteractionNet(config.width)
    net.train().requires_grad_(True)
    rng = np.random.default_rng([config.seed, 2])

    def batch_loss(step: int):
        size = config.batch_size
        inputs, targets, views, weights = batch_inputs(
            samples, rng.integers(clips, size=size), rng.integers(frames, size=size), rng.random(size) < 0.5,
            rng.random(size) < config.data.working_size_rate, config.data.working_size,
            rng.random(size) >= config.data.hint_dropout)
        output = (views * torch.exp(net(inputs))).clamp(0, 1)
        delivered = targets + (output - targets) * weights
        return pixel_losses(delivered * 2 - 1, targets * 2 - 1, config.loss)

    started = time.monotonic()
    result.losses = fit(list(net.parameters()), batch_loss, config, config.steps, config.max_grad_norm,
                        output_dir / LOSS_FILE, config.log_every, "train_interaction", progress)
    result.train_seconds = time.monotonic() - started
    say("interaction pass trained in %.0f s" % result.train_seconds)
    model.interaction = net.eval().requires_grad_(False)
    model.profile.interaction_pass = True
    shutil.rmtree(result.profile_dir, ignore_errors=True)
    save_pretrained(model, result.profile_dir)
    say("profile written to %s" % result.profile_dir)
    return result
