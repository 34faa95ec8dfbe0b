"""Pretraining a profile's VAE (AutoencoderKL) on frames, and building the starting profile for U-Net
training around it.

Why: the `tiny` profile is built from configs, so its VAE is random, and a frozen random VAE cannot
reconstruct an image: a U-Net trained on its latents still decodes to noise. This trains the VAE alone
(reconstruction, before any U-Net training), then writes a profile directory with the trained VAE, a
seeded random U-Net and the profile's image encoder, which `model.init` of a training config
(engine/training/config.py, ModelSource) fine-tunes from.

The loss, per image in [-1, 1]: l1 * |x - x'| + l2 * (x - x')^2 + edge * |grad x - grad x'| (finite
differences, keeps edges sharp without a perceptual network) + colour * |box4(x - x')| (the 4x4 mean
colour, which a small VAE otherwise desaturates) + kl * KL(q(z|x) || N(0, 1)), the decoder
fed a sample of the posterior. Training images are random frames of the manifest's clips, and, with
`segmentation_rate`, the same frames with the background replaced by the profile's grey under the
matte: what the pipeline encodes as its foreground input. Random horizontal flips.

The latent scale: after training, `vae_scaling_factor` is set to 1 / std of the posterior means over
`scale_samples` training images (rounded to 5 digits), so the diffusion sees unit-variance latents, as
SD's 0.18215 does for its VAE. It is written to the VAE's config (`scaling_factor`) and to the
profile's actanywhere.json.

The image encoder (CLIP vision) is not trained here: in `tiny` it stays the seeded random encoder,
frozen. A fixed random ViT with a projection is still a deterministic function of the condition image
that keeps coarse content (colours, layout), which is all the cross-attention can use from it; its
embedding is not semantic and the README of the shipped weights says so.

Every random choice (init, batches, flips, posterior samples) comes from `seed`: the same config gives
the same weights on the same machine and thread count.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import shutil
import tempfile
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

logger = logging.getLogger(__name__)

AUTOENCODER_SCHEMA_VERSION = 1
LOSS_FILE = "vae_loss.csv"
LOSS_COLUMNS = ("step", "loss", "l1", "l2", "edge", "colour", "kl", "learning_rate", "seconds_per_step")
VAE_DIR = "vae"
PROFILE_DIR = "profile"
PREVIEW_FILE = "reconstructions.png"


def check_rate(value: float) -> Optional[str]:
    return None if 0.0 <= value <= 1.0 else "a rate must lie in [0, 1], got %g" % value


@dataclass
class AutoencoderData:
    manifest: str = setting(is_path=True, help="the clip manifest (YAML or CSV) whose frames train the VAE")
    height: int = setting(64, minimum=8, help="training height in pixels")
    width: int = setting(64, minimum=8, help="training width in pixels")
    segmentation_rate: float = setting(0.3, check=check_rate,
                                       help="rate of images whose background is replaced by grey under the matte")
    flip_rate: float = setting(0.5, check=check_rate, help="rate of horizontal flips")
    crop: int = setting(0, minimum=0, help="train on random square crops of this side (0: whole frames); "
                                           "the VAE is convolutional, so crops make steps cheaper")
    model_colourspace: str = setting("sRGB Encoded Rec.709 (sRGB)", help="the model's display-referred space")
    ocio_config: Optional[str] = setting(None, help="OCIO config; null: $OCIO, else OpenImageIO's built-in")


@dataclass
class AutoencoderLoss:
    l1: float = setting(1.0, minimum=0.0, help="weight of the mean absolute pixel error")
    l2: float = setting(1.0, minimum=0.0, help="weight of the mean squared pixel error")
    edge: float = setting(0.5, minimum=0.0, help="weight of the L1 error of horizontal and vertical differences")
    colour: float = setting(0.0, minimum=0.0, help="weight of the L1 error of the 4x4 box-filtered images: flat "
                                                  "colours, the low frequencies a small VAE loses first")
    kl: float = setting(1e-6, minimum=0.0, help="weight of the KL divergence to N(0, 1) (per latent element)")


@dataclass
class AutoencoderConfig:
    data: AutoencoderData
    output_dir: str = setting(is_path=True, help="where vae/, profile/, vae_loss.csv and reconstructions.png go")
    schema_version: int = setting(AUTOENCODER_SCHEMA_VERSION, choices=(AUTOENCODER_SCHEMA_VERSION,))
    profile: str = setting("tiny", help="built-in profile whose configs give the architecture")
    init: Optional[str] = setting(None, is_path=True, help="profile directory whose VAE to start from")
    vae_norm_num_groups: Optional[int] = setting(
        None, minimum=1, help="override the profile's VAE norm_num_groups (building from configs only); "
                              "null: as configured. GroupNorm with one channel per group erases each "
                              "channel's mean over the image, which loses flat colours")
    loss: AutoencoderLoss = field(default_factory=AutoencoderLoss)
    steps: int = setting(2000, minimum=1, help="optimizer steps")
    batch_size: int = setting(16, minimum=1, help="images per step")
    learning_rate: float = setting(1e-3, minimum=0.0, help="AdamW peak learning rate")
    weight_decay: float = setting(0.0, minimum=0.0, help="AdamW weight decay")
    warmup_steps: int = setting(50, minimum=0, help="linear warm-up, then cosine decay to min_lr_fraction")
    min_lr_fraction: float = setting(0.1, minimum=0.0, maximum=1.0, help="final learning rate / peak")
    max_grad_norm: float = setting(1.0, minimum=0.0, help="gradient clipping; 0 disables it")
    seed: int = setting(0, minimum=0, help="seeds the init, the batches, the flips and the posterior samples")
    threads: int = setting(0, minimum=0, help="torch CPU threads (0: torch's default)")
    scale_samples: int = setting(256, minimum=1, help="images that measure the latent std for vae_scaling_factor")
    log_every: int = setting(10, minimum=1, help="steps between rows in vae_loss.csv")
    output_name: Optional[str] = setting(None, help="the profile's name in profile/ (default: `profile`)")


def load_autoencoder_config(path: str, environ=None) -> AutoencoderConfig:
    """Read and check a VAE pretraining config (config.load_config_file)."""
    return load_config_file(AutoencoderConfig, path, "autoencoder config", environ)


@dataclass
class AutoencoderResult:
    output_dir: Path
    vae_dir: Path  # the trained AutoencoderKL (diffusers layout)
    profile_dir: Path  # the starting profile for U-Net training (trained VAE, seeded random U-Net)
    scaling_factor: float
    losses: List[tuple] = field(default_factory=list)  # (step, loss, l1) of every step
    seconds: float = 0.0

    @property
    def loss_csv(self) -> Path:
        return self.output_dir / LOSS_FILE


# -- data ---------------------------------------------------------------------------------------------
class FramePool:
    """Random training images from a manifest: (clip, frame) pairs read at training size, cached in
    memory as 8-bit (a 64x64 frame is 12 KB) so every image is read from disk once."""

    def __init__(self, config: AutoencoderConfig, background_grey: float):
        from actanywhere.engine.training.config import DataSettings
        from actanywhere.engine.training.data import FrameReader, resolve_clips

        self.config = config
        self.grey = background_grey
        self.clips = resolve_clips(config.data.manifest, 1)
        settings = DataSettings(manifest=config.data.manifest, frames=1, height=config.data.height,
                                width=config.data.width, model_colourspace=config.data.model_colourspace,
                                ocio_config=config.data.ocio_config)
        self.reader = FrameReader(settings)
        self.pairs = [(c, n) for c, clip in enumerate(self.clips) for n in clip.frame_numbers]
        self._cache = {}

    def _read(self, index: int):
        if index not in self._cache:
            clip_index, number = self.pairs[index]
            clip = self.clips[clip_index]
            rgb = self.reader.rgb(clip, number)
            matte = self.reader.matte(clip, number)
            self._cache[index] = (np.round(rgb * 255).astype(np.uint8), np.round(matte * 255).astype(np.uint8))
        rgb, matte = self._cache[index]
        return rgb.astype(np.float32) / 255.0, matte.astype(np.float32) / 255.0

    def batch(self, rng: np.random.Generator, size: int, crop: bool = True) -> np.ndarray:
        """(N, 3, H, W) float32 in [-1, 1]; random crops of data.crop unless `crop` is False."""
        images = []
        for _ in range(size):
            rgb, matte = self._read(int(rng.integers(len(self.pairs))))
            if rng.random() < self.config.data.segmentation_rate:
                rgb = rgb * matte[..., None] + self.grey * (1.0 - matte[..., None])
            if rng.random() < self.config.data.flip_rate:
                rgb = rgb[:, ::-1]
            crop = self.config.data.crop if crop else 0
            if crop and (crop < rgb.shape[0] or crop < rgb.shape[1]):
                top = int(rng.integers(rgb.shape[0] - min(crop, rgb.shape[0]) + 1))
                left = int(rng.integers(rgb.shape[1] - min(crop, rgb.shape[1]) + 1))
                rgb = rgb[top:top + crop, left:left + crop]
            images.append(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
        return np.stack(images) * 2.0 - 1.0


# -- the model ---------------------------------------------------------------------------------------
def _configs_dir(name: str) -> Path:
    from actanywhere.engine.model.profile_files import builtin_configs

    folder = builtin_configs(name)
    if folder is None:
        raise ConfigError("profile: no built-in configs named %r" % name)
    return folder


def build_start_model(config: AutoencoderConfig):
    """The model whose VAE is trained: `init`'s profile directory, else the built-in configs seeded
    with `seed` (the same U-Net and image encoder as an untrained `profile` with that seed)."""
    from actanywhere.engine.model.profile_files import build_from_configs, load_pretrained

    import torch

    if config.init:
        return load_pretrained(config.init, device="cpu", dtype=torch.float32)
    folder = _configs_dir(config.profile)
    if config.vae_norm_num_groups is None:
        return build_from_configs(folder, seed=config.seed)
    with tempfile.TemporaryDirectory() as temporary:
        for source in folder.iterdir():
            if source.suffix == ".json":
                shutil.copy(source, temporary)
        vae_config = json.loads((folder / "vae.json").read_text())
        vae_config["norm_num_groups"] = config.vae_norm_num_groups
        if any(channels % config.vae_norm_num_groups for channels in vae_config["block_out_channels"]):
            raise ConfigError("vae_norm_num_groups: %d must divide every VAE block's channels %s"
                              % (config.vae_norm_num_groups, vae_config["block_out_channels"]))
        Path(temporary, "vae.json").write_text(json.dumps(vae_config))
        return build_from_configs(temporary, seed=config.seed)


def warmup_cosine_rate(config, step: int) -> float:
    """Linear warm-up to the peak, then cosine decay to min_lr_fraction of it; `step` counts from 0.
    `config`: any config with learning_rate, warmup_steps, steps and min_lr_fraction."""
    peak = config.learning_rate
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.min_lr_fraction
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def reconstruction_losses(vae, images, generator, weights: AutoencoderLoss, sample: bool = True):
    """The weighted loss and its parts (floats) of one batch; `images` in [-1, 1], (N, 3, H, W)."""
    import torch

    posterior = vae.encode(images).latent_dist
    latents = posterior.sample(generator) if sample else posterior.mode()
    decoded = vae.decode(latents).sample
    pixels, parts = pixel_losses(decoded, images, weights)
    kl = posterior.kl().mean() / latents[0].numel()
    parts["kl"] = float(kl.detach())
    return pixels + weights.kl * kl, parts


def pixel_losses(decoded, images, weights: AutoencoderLoss):
    """The weighted pixel terms (l1, l2, edge, colour) of decoded vs target images in [-1, 1], and
    the terms as floats. Shared with the decoder fine-tuning (decoder_finetune.py)."""
    import torch

    error = decoded - images
    l1 = error.abs().mean()
    l2 = error.pow(2).mean()
    edge = ((torch.diff(decoded, dim=-1) - torch.diff(images, dim=-1)).abs().mean()
            + (torch.diff(decoded, dim=-2) - torch.diff(images, dim=-2)).abs().mean())
    colour = torch.nn.functional.avg_pool2d(error, 4, ceil_mode=True).abs().mean()
    total = weights.l1 * l1 + weights.l2 * l2 + weights.edge * edge + weights.colour * colour
    return total, {"l1": float(l1.detach()), "l2": float(l2.detach()), "edge": float(edge.detach()),
                   "colour": float(colour.detach())}


def append_loss_row(path: Path, row: list, columns=LOSS_COLUMNS) -> None:
    """One row of a loss CSV, the header first when the file is new."""
    new = not path.is_file()
    with open(path, "a", newline="") as stream:
        writer = csv.writer(stream)
        if new:
            writer.writerow(columns)
        writer.writerow(row)


# -- the loop ----------------------------------------------------------------------------------------
def run_autoencoder_pretraining(config_path: str, progress: Optional[ProgressCallback] = None,
                                log: Optional[Callable[[str], None]] = None) -> AutoencoderResult:
    """`actanywhere train-vae CONFIG`: read and check the config, then pretrain (see `pretrain_autoencoder`)."""
    return pretrain_autoencoder(load_autoencoder_config(config_path), progress=progress, log=log)


def pretrain_autoencoder(config: AutoencoderConfig, progress: Optional[ProgressCallback] = None,
                         log: Optional[Callable[[str], None]] = None) -> AutoencoderResult:
    """Train the VAE of `config.profile` (or `config.init`) on the manifest's frames; write
    output_dir/vae (AutoencoderKL), output_dir/profile (a full profile directory around it, for
    `model.init` of a training config), vae_loss.csv and reconstructions.png. Reports stage
    "train_vae" to `progress`. Deterministic for a seed, a machine and a thread count."""
    import torch

    from actanywhere.engine.model.architecture import ActAnywhereModel
    from actanywhere.engine.model.profile_files import save_pretrained

    progress = progress or ignore_progress

    say = reporter(logger, log)
    if config.threads:
        torch.set_num_threads(config.threads)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model = build_start_model(config)
    factor = model.vae_scale_factor
    if config.data.height % factor or config.data.width % factor:
        raise ConfigError("data.height/data.width: %dx%d must be multiples of the VAE scale factor %d"
                          % (config.data.height, config.data.width, factor))
    if config.data.crop % factor:
        raise ConfigError("data.crop: %d must be a multiple of the VAE scale factor %d" % (config.data.crop, factor))
    pool = FramePool(config, model.profile.background_grey)
    (output_dir / "vae_training.json").write_text(json.dumps(schema.to_data(config), indent=2) + "\n")
    loss_path = output_dir / LOSS_FILE
    if loss_path.exists():
        loss_path.unlink()

    vae = model.vae.to(torch.float32)
    vae.train()
    vae.requires_grad_(True)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    rng = np.random.default_rng([config.seed, 1])  # batches and flips
    generator = torch.Generator().manual_seed(config.seed + 1)  # posterior samples
    # A fixed preview/validation batch, drawn from its own stream.
    preview = torch.from_numpy(pool.batch(np.random.default_rng([config.seed, 2]), 8, crop=False)).float()
    result = AutoencoderResult(output_dir, output_dir / VAE_DIR, output_dir / PROFILE_DIR, 0.0)
    clock = EtaClock()
    started = window_started = time.monotonic()
    window: List[dict] = []
    say("pretraining the %s VAE (%d parameters) on %d frames of %d clips for %d steps, batch %d"
        % (model.profile.name, sum(p.numel() for p in vae.parameters()), len(pool.pairs), len(pool.clips),
           config.steps, config.batch_size))
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine_rate(config, step)
        images = torch.from_numpy(pool.batch(rng, config.batch_size)).float()
        loss, parts = reconstruction_losses(vae, images, generator, config.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(vae.parameters(), config.max_grad_norm)
        optimizer.step()
        parts["loss"] = float(loss.detach())
        window.append(parts)
        result.losses.append((step + 1, parts["loss"], parts["l1"]))
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            seconds = (time.monotonic() - window_started) / len(window)
            mean = {key: float(np.mean([w[key] for w in window])) for key in window[0]}
            append_loss_row(loss_path, [step + 1] + ["%.6g" % mean[k] for k in ("loss", "l1", "l2", "edge", "colour", "kl")]
                        + ["%.6g" % optimizer.param_groups[0]["lr"], "%.4g" % seconds])
            window, window_started = [], time.monotonic()
        progress(ProgressEvent("train_vae", step + 1, config.steps, step=step + 1, steps=config.steps,
                               eta_s=clock.eta(step + 1, config.steps), message="loss %.4f" % parts["loss"]))
    result.seconds = time.monotonic() - started

    vae.eval()
    vae.requires_grad_(False)
    scaling = measure_scaling_factor(vae, pool, config)
    vae.register_to_config(scaling_factor=scaling)
    with torch.inference_mode():
        _, val = reconstruction_losses(vae, preview, None, config.loss, sample=False)
        reconstructed = vae.decode(vae.encode(preview).latent_dist.mode()).sample.clamp(-1, 1)
    # PSNR of [0, 1] pixels: the L2 above is of [-1, 1] pixels, 4x the [0, 1] MSE.
    psnr = 10 * math.log10(4.0 / max(val["l2"], 1e-12))
    say("VAE pretrained in %.0f s: preview (8 whole frames) L1 %.4f, L2 %.5f, PSNR %.2f dB; latent scaling "
        "factor %.5f" % (result.seconds, val["l1"], val["l2"], psnr, scaling))
    write_preview(output_dir / PREVIEW_FILE, preview, reconstructed)

    shutil.rmtree(result.vae_dir, ignore_errors=True)
    vae.save_pretrained(result.vae_dir, safe_serialization=True)
    profile = dataclasses.replace(model.profile, name=config.output_name or model.profile.name,
                                  vae_scaling_factor=scaling)
    start = ActAnywhereModel(profile, model.unet, vae, model.image_encoder, trained=False,
                             text_embeds=model.text_embeds, detail=model.detail,
                             interaction=model.interaction)
    shutil.rmtree(result.profile_dir, ignore_errors=True)
    save_pretrained(start, result.profile_dir)
    result.scaling_factor = scaling
    say("starting profile for U-Net training written to %s" % result.profile_dir)
    return result


def measure_scaling_factor(vae, pool: FramePool, config: AutoencoderConfig) -> float:
    """1 / std of the posterior means of `scale_samples` training images, rounded to 5 digits."""
    import torch

    rng = np.random.default_rng([config.seed, 3])
    means = []
    with torch.inference_mode():
        for start in range(0, config.scale_samples, 32):
            count = min(32, config.scale_samples - start)
            images = torch.from_numpy(pool.batch(rng, count, crop=False)).float()
            means.append(vae.encode(images).latent_dist.mode().flatten())
    std = float(torch.cat(means).std())
    return float("%.5g" % (1.0 / max(std, 1e-6)))


def write_preview(path: Path, images, reconstructed) -> None:
    """A PNG: the inputs on the top row, their reconstructions below."""
    from actanywhere.engine.synth import write_png

    def row(batch):
        pixels = (batch.detach().float().cpu().numpy() + 1) / 2  # (N, 3, H, W)
        return np.concatenate(list(pixels.transpose(0, 2, 3, 1)), axis=1)

    write_png(str(path), np.clip(np.concatenate([row(images), row(reconstructed)], axis=0), 0, 1))
