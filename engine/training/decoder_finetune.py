"""Fine-tuning a trained profile's VAE decoder on the latents its own U-Net samples.

Why: a small latent model's output is its sampled latents through the VAE decoder, and the decoder
was trained only on the encoder's latents of real frames. The U-Net's samples are not such latents
(smoother, slightly off the encoder's manifold), and the decoder turns their errors into blur and
colour noise. This fits the decoder to what it is actually given: for every clip of the manifest the
profile samples its latents exactly as `actanywhere generate` would (its default steps and guidance,
the clip's condition image or a random frame), and the decoder learns to map them to the clip's real
frames. A share of each batch (`real_rate`) decodes the encoder's latents of the real frames, so the
decoder keeps decoding real latents well (the tiled refinement encodes and decodes plates).

The encoder, the U-Net and the image encoder are not touched: every input the U-Net sees is encoded
as before, so the U-Net stays valid. Only the decoder's weights (decoder.*, post_quant_conv.*) change;
the latent scaling factor is kept. The loss is the VAE pretraining's reconstruction loss
(autoencoder.pixel_losses: L1, L2, edge, colour), without the KL term (the encoder is frozen).

Then, with `detail.steps` > 0, the detail pass (model/detail.py) learns on the same samples, decoded
by the fine-tuned decoder: from each decoded frame, the condition image it was sampled with and the
matte, the real frame, with the same loss on what the comp delivers (the subject's pixels taken from
the real frame, as engine/comp.py puts the plate's subject back). The profile gets `detail_pass:
true` and detail/.

    actanywhere train-decoder decoder.yaml    # -> output_dir/profile, a full profile directory

Every random choice (conditions, sampling seeds, batches) comes from `seed`.
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
from actanywhere.engine.camera.condition_warp import SpatialCondition
from actanywhere.engine.errors import ConfigError
from actanywhere.engine.progress import EtaClock, ProgressCallback, ProgressEvent, ignore_progress
from actanywhere.engine.schema import setting
from actanywhere.engine.training.config import load_config_file, reporter
from actanywhere.engine.training.autoencoder import (AutoencoderLoss, append_loss_row, check_rate, pixel_losses,
                                                     warmup_cosine_rate)

logger = logging.getLogger(__name__)

DECODER_SCHEMA_VERSION = 1
LOSS_FILE = "decoder_loss.csv"
DETAIL_LOSS_FILE = "detail_loss.csv"
LOSS_COLUMNS = ("step", "loss", "l1", "l2", "edge", "colour", "learning_rate", "seconds_per_step")
PROFILE_DIR = "profile"


@dataclass
class DecoderData:
    manifest: str = setting(is_path=True, help="the clip manifest whose clips the profile samples (training split)")
    frames: int = setting(16, minimum=1, help="frames per clip (the profile's native frames)")
    height: int = setting(64, minimum=8, help="height in pixels")
    width: int = setting(64, minimum=8, help="width in pixels")
    condition_image_rate: float = setting(0.5, check=check_rate,
                                          help="rate of clips sampled with their manifest `condition` image "
                                               "(else a random frame of the clip)")
    track_camera: bool = setting(True, help="sample each clip as generate does: its camera tracked relative to "
                                            "the condition's frame and the condition warped into every frame "
                                            "(docs/camera.md); false: the condition stretched over every frame")
    model_colourspace: str = setting("sRGB Encoded Rec.709 (sRGB)", help="the model's display-referred space")
    ocio_config: Optional[str] = setting(None, help="OCIO config; null: $OCIO, else OpenImageIO's built-in")


@dataclass
class DetailTraining:
    steps: int = setting(0, minimum=0, help="optimizer steps of the detail pass after the decoder; 0: no "
                                            "detail training (a detail net the profile has is kept as it is)")
    width: int = setting(32, minimum=4, help="the detail net's channels at full resolution, when the profile "
                                             "has none yet")
    batch_size: int = setting(16, minimum=1, help="frames per step")
    learning_rate: float = setting(1e-3, minimum=0.0, help="AdamW peak learning rate")
    warmup_steps: int = setting(50, minimum=0, help="linear warm-up, then cosine decay to min_lr_fraction")
    min_lr_fraction: float = setting(0.1, minimum=0.0, maximum=1.0, help="final learning rate / peak")


@dataclass
class DecoderConfig:
    data: DecoderData
    init: str = setting(is_path=True, help="the trained profile directory whose decoder is fine-tuned")
    output_dir: str = setting(is_path=True, help="where profile/, decoder_loss.csv and decoder_training.json go")
    schema_version: int = setting(DECODER_SCHEMA_VERSION, choices=(DECODER_SCHEMA_VERSION,))
    loss: AutoencoderLoss = field(default_factory=lambda: AutoencoderLoss(kl=0.0))
    real_rate: float = setting(0.25, check=check_rate,
                               help="share of each batch decoded from the encoder's latents of the real frames")
    steps: int = setting(800, minimum=0, help="optimizer steps of the decoder (0: keep the profile's decoder)")
    batch_size: int = setting(16, minimum=1, help="frames per step")
    learning_rate: float = setting(2e-4, minimum=0.0, help="AdamW peak learning rate")
    warmup_steps: int = setting(20, minimum=0, help="linear warm-up, then cosine decay to min_lr_fraction")
    min_lr_fraction: float = setting(0.1, minimum=0.0, maximum=1.0, help="final learning rate / peak")
    max_grad_norm: float = setting(1.0, minimum=0.0, help="gradient clipping; 0 disables it")
    seed: int = setting(0, minimum=0, help="seeds the conditions, the sampling noise and the batches")
    threads: int = setting(0, minimum=0, help="torch CPU threads (0: torch's default)")
    log_every: int = setting(10, minimum=1, help="steps between rows in decoder_loss.csv and detail_loss.csv")
    detail: DetailTraining = field(default_factory=DetailTraining)


def load_decoder_config(path: str, environ=None) -> DecoderConfig:
    """Read and check a decoder fine-tuning config (config.load_config_file)."""
    return load_config_file(DecoderConfig, path, "decoder fine-tuning config", environ)


@dataclass
class DecoderResult:
    output_dir: Path
    profile_dir: Path
    losses: List[tuple] = field(default_factory=list)  # (step, loss) of the decoder
    detail_losses: List[tuple] = field(default_factory=list)  # (step, loss) of the detail pass
    sample_seconds: float = 0.0  # sampling the U-Net's latents
    train_seconds: float = 0.0
    detail_seconds: float = 0.0

    @property
    def loss_path(self) -> Path:
        return self.output_dir / LOSS_FILE


@dataclass
class TrainingSamples:
    """What the profile makes of the manifest's clips, as `actanywhere generate` would sample them."""

    sampled: "torch.Tensor"  # (N, C, h, w) the U-Net's sampled latents, N = clips x frames
    real: "torch.Tensor"  # (N, C, h, w) the encoder's latents of the real frames
    frames: np.ndarray  # (N, H, W, 3) uint8, the real frames
    mattes: np.ndarray  # (N, H, W) uint8, their mattes (subject = 255)
    conditions: np.ndarray  # (N, H, W, 3) uint8, each frame's view of the condition its clip was sampled with
    frames_per_clip: int


def sample_training_latents(pipeline, config: DecoderConfig,
                            progress: ProgressCallback = ignore_progress) -> TrainingSamples:
    """Sample every manifest clip with the profile's defaults and its condition image, or a random frame."""
    import torch

    from actanywhere.engine.training.config import DataSettings
    from actanywhere.engine.training.data import FrameReader, resolve_clips
    from actanywhere.engine.training.trainer import encode_frames

    data = config.data
    clips = resolve_clips(data.manifest, data.frames)
    reader = FrameReader(DataSettings(manifest=data.manifest, frames=data.frames, height=data.height,
                                      width=data.width, model_colourspace=data.model_colourspace,
                                      ocio_config=data.ocio_config))
    profile = pipeline.profile
    sampled, real, pixels, mattes, conditions = [], [], [], [], []
    clock = EtaClock()
    for index, clip in enumerate(clips):
        rng = np.random.default_rng([config.seed, index, 7])
        numbers = clip.frame_numbers[:data.frames]
        frames = np.stack([reader.rgb(clip, n) for n in numbers])
        matte = np.stack([reader.matte(clip, n) for n in numbers])
        if clip.condition and rng.random() < data.condition_image_rate:
            condition = reader.image(clip, clip.condition)
            condition_frame = clip.condition_frame
        else:
            condition_frame = clip.frame_numbers[int(rng.integers(len(clip.frame_numbers)))]
            condition = reader.rgb(clip, condition_frame)
        spatial = SpatialCondition(condition, len(numbers), clip_track(clip, numbers, frames, matte, condition_frame)
                                   if data.track_camera else None)
        with torch.inference_mode():
            latents = pipeline(frames, matte, condition, steps=profile.default_steps,
                               guidance_scale=profile.default_guidance_scale, seed=int(rng.integers(2**31)),
                               output="latents", spatial=spatial)
            sampled.append(latents[0].permute(1, 0, 2, 3).float().cpu())
            real.append(encode_frames(pipeline, frames)[0].permute(1, 0, 2, 3).float().cpu())
        pixels.append(to_uint8(frames))
        mattes.append(to_uint8(matte))
        conditions.append(to_uint8(spatial.all_frames(data.width, data.height)))
        progress(ProgressEvent("sample", index + 1, len(clips), eta_s=clock.eta(index + 1, len(clips)),
                               message="clip %d" % index))
    return TrainingSamples(torch.cat(sampled), torch.cat(real), np.concatenate(pixels), np.concatenate(mattes),
                           np.concatenate(conditions), data.frames)


def clip_track(clip, numbers, frames: np.ndarray, matte: np.ndarray, condition_frame: Optional[int]):
    """A training clip's camera relative to its condition's frame, tracked as generate tracks a plate; None
    (the condition stretched over every frame) when that frame is unknown or outside the frames, or when
    the clip cannot be tracked (a clip the tracker refuses is still a sample, as before tracking existed)."""
    from actanywhere.engine.camera.tracker import track_frames
    from actanywhere.engine.errors import MediaError

    if condition_frame is None or condition_frame not in numbers:
        return None
    try:
        return track_frames(zip(numbers, frames, matte), condition_frame, source=clip.source)
    except MediaError as error:
        logger.info("%s: sampled without a camera track (%s)", clip.source, error)
        return None


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


def to_tensor(pixels: np.ndarray, low: float = -1.0) -> "torch.Tensor":
    """uint8 (N, H, W, C) or (N, H, W) -> float (N, C, H, W) in [low, 1]."""
    import torch

    pixels = pixels if pixels.ndim == 4 else pixels[..., None]
    return torch.from_numpy(pixels.astype(np.float32) * ((1.0 - low) / 255.0) + low).permute(0, 3, 1, 2)


def run_decoder_finetune(config_path: str, progress: Optional[ProgressCallback] = None,
                         log: Optional[Callable[[str], None]] = None) -> DecoderResult:
    """`actanywhere train-decoder CONFIG`."""
    return finetune_decoder(load_decoder_config(config_path), progress=progress, log=log)


def fit(parameters, batch_loss: Callable[[int], tuple], schedule, steps: int, max_grad_norm: float,
        loss_path: Path, log_every: int, stage: str, progress: ProgressCallback) -> List[tuple]:
    """The optimizer loop both stages share: AdamW with warm-up and cosine decay (`schedule` holds
    learning_rate, warmup_steps, steps, min_lr_fraction), gradient clipping, a row of mean losses in
    `loss_path` every `log_every` steps. batch_loss(step) -> (loss tensor, {term: float}). Returns
    [(step, loss)]."""
    import torch

    optimizer = torch.optim.AdamW(parameters, lr=schedule.learning_rate, weight_decay=0.0)
    if loss_path.exists():
        loss_path.unlink()
    losses, window = [], []
    clock = EtaClock()
    window_started = time.monotonic()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine_rate(schedule, step)
        loss, parts = batch_loss(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        optimizer.step()
        parts["loss"] = float(loss.detach())
        window.append(parts)
        losses.append((step + 1, parts["loss"]))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            mean = {key: float(np.mean([w[key] for w in window])) for key in window[0]}
            append_loss_row(loss_path, [step + 1] + ["%.6g" % mean[k] for k in ("loss", "l1", "l2", "edge", "colour")]
                            + ["%.6g" % optimizer.param_groups[0]["lr"],
                               "%.4g" % ((time.monotonic() - window_started) / len(window))], LOSS_COLUMNS)
            window, window_started = [], time.monotonic()
        progress(ProgressEvent(stage, step + 1, steps, step=step + 1, steps=steps,
                               eta_s=clock.eta(step + 1, steps), message="loss %.4f" % parts["loss"]))
    return losses


def finetune_decoder(config: DecoderConfig, progress: Optional[ProgressCallback] = None,
                     log: Optional[Callable[[str], None]] = None) -> DecoderResult:
    """Sample the profile's latents for every manifest clip, fine-tune its decoder on them, then train
    its detail pass (detail.steps > 0); write output_dir/profile (the profile with the new decoder and
    detail net), decoder_loss.csv, detail_loss.csv and decoder_training.json."""
    import torch

    from actanywhere.engine.model.pipeline import ActAnywherePipeline
    from actanywhere.engine.model.profile_files import load_pretrained, save_pretrained

    progress = progress or ignore_progress

    say = reporter(logger, log)
    if config.threads:
        torch.set_num_threads(config.threads)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "decoder_training.json").write_text(json.dumps(schema.to_data(config), indent=2) + "\n")
    model = load_pretrained(config.init, device="cpu", dtype=torch.float32)
    if not model.trained:
        raise ConfigError("init: %s holds an untrained model; fine-tune the decoder of a trained profile" % config.init)
    if config.steps == 0 and config.detail.steps == 0:
        raise ConfigError("steps and detail.steps are both 0: nothing to train")
    # Sampled without a detail pass: the decoder learns from the latents alone, whatever the init holds.
    detail, model.detail = model.detail, None
    model.profile.detail_pass = False
    pipeline = ActAnywherePipeline(model)
    result = DecoderResult(output_dir, output_dir / PROFILE_DIR)

    started = time.monotonic()
    samples = sample_training_latents(pipeline, config, progress)
    result.sample_seconds = time.monotonic() - started
    say("sampled %d frames of %d clips with %d step(s), guidance %g in %.0f s" % (
        len(samples.sampled), len(samples.sampled) // samples.frames_per_clip, model.profile.default_steps,
        model.profile.default_guidance_scale, result.sample_seconds))

    vae = model.vae
    scaling = float(model.profile.vae_scaling_factor)
    rng = np.random.default_rng([config.seed, 1])
    if config.steps:
        parameters = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
        vae.requires_grad_(False)
        for parameter in parameters:
            parameter.requires_grad_(True)
        vae.train()

        def decoder_loss(step: int):
            picks = rng.integers(len(samples.frames), size=config.batch_size)
            use_real = torch.from_numpy(rng.random(config.batch_size) < config.real_rate)
            latents = torch.where(use_real[:, None, None, None], samples.real[picks], samples.sampled[picks])
            decoded = vae.decode(latents / scaling).sample
            return pixel_losses(decoded, to_tensor(samples.frames[picks]), config.loss)

        started = time.monotonic()
        result.losses = fit(parameters, decoder_loss, config, config.steps, config.max_grad_norm,
                            output_dir / LOSS_FILE, config.log_every, "train_decoder", progress)
        result.train_seconds = time.monotonic() - started
        vae.eval()
        vae.requires_grad_(False)
        say("decoder fine-tuned in %.0f s" % result.train_seconds)

    if config.detail.steps:
        from actanywhere.engine.model.detail import DetailNet

        detail = detail if detail is not None else DetailNet(config.detail.width)
        started = time.monotonic()
        decoded = np.concatenate([pipeline.decode_latents(samples.sampled[start:start + 64].permute(1, 0, 2, 3)[None])
                                  for start in range(0, len(samples.sampled), 64)])  # (N, H, W, 3) in [0, 1]
        decoded = torch.from_numpy(decoded).permute(0, 3, 1, 2).contiguous()
        conditions = to_tensor(samples.conditions, low=0.0)
        detail.train().requires_grad_(True)
        parameters = list(detail.parameters())

        def detail_loss(step: int):
            picks = rng.integers(len(samples.frames), size=config.detail.batch_size)
            matte = to_tensor(samples.mattes[picks], low=0.0)
            output = detail(decoded[picks], conditions[picks], matte) * 2 - 1
            target = to_tensor(samples.frames[picks])
            # Scored as the comp delivers it: the subject's pixels are the real ones, so only the plate
            # around the subject counts (pixel_losses takes [-1, 1], the decoder's loss and units).
            return pixel_losses(target * matte + output * (1 - matte), target, config.loss)

        result.detail_losses = fit(parameters, detail_loss, config.detail, config.detail.steps, config.max_grad_norm,
                                   output_dir / DETAIL_LOSS_FILE, config.log_every, "train_detail", progress)
        result.detail_seconds = time.monotonic() - started
        say("detail pass trained in %.0f s" % result.detail_seconds)
    elif detail is not None and config.steps:
        say("note: the profile's detail pass is kept as it was, trained on the previous decoder's output; "
            "set detail.steps to train it on the new decoder's")
    if detail is not None:
        model.detail = detail.eval().requires_grad_(False)
        model.profile.detail_pass = True
    shutil.rmtree(result.profile_dir, ignore_errors=True)
    save_pretrained(model, result.profile_dir)
    say("profile written to %s" % result.profile_dir)
    return result
