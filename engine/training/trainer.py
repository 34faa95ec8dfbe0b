"""The training loop: self-supervised ActAnywhere training, run through `accelerate`.

One step, per sample (paper, section 3): a clip of T frames and its matte; the condition is a random
frame of the same video (subject included), or the clip's own condition image where the manifest gives
one (data.py); the target is the clip itself. The matte is augmented (mask_augment.py) and the U-Net
input is built by the inference pipeline's own code (`encode_conditioning`, `model_input`), so
training and inference cannot drift apart. The loss is the MSE of the profile's prediction type
(epsilon or v) under its DDPM noise schedule. The VAE and CLIP are frozen.

Scale-out is accelerate's: the same code runs on one CPU, `accelerate launch --multi_gpu` (DDP) and
multi-node launches; every process trains on its own slots of each step (data.StepSamples).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from actanywhere.engine import schema
from actanywhere.engine.errors import ConfigError
from actanywhere.engine.progress import EtaClock, ProgressCallback, ProgressEvent, ignore_progress
from actanywhere.engine.training.config import TrainingConfig, load_training_config
from actanywhere.engine.training.data import StepSamples, collate, resolve_clips

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
CHECKPOINT_PREFIX = "step-"
STATE_FILE = "trainer_state.json"
LOSS_FILE = "loss.csv"
MODEL_DIR = "model"
LOSS_COLUMNS = ("step", "loss", "learning_rate", "seconds_per_step")


@dataclass
class TrainingResult:
    output_dir: Path
    model_dir: Optional[Path]  # the trained profile directory (None when the run was stopped early)
    start_step: int  # 0, or the step a resumed run started from
    step: int  # steps done when the run ended
    losses: List[Tuple[int, float]] = field(default_factory=list)  # (step, loss) of this process, this run
    seconds_per_step: Optional[float] = None

    @property
    def loss_csv(self) -> Path:
        return self.output_dir / LOSS_FILE


# -- the model ------------------------------------------------------------------------------------
def build_model(config: TrainingConfig):
    """The model to train: a profile directory (`model.init`), else the built-in configs of
    `model.profile` with random weights seeded by `seed`."""
    from actanywhere.engine.model.profile_files import build_from_configs, builtin_configs, load_pretrained

    if config.model.init:
        return load_pretrained(config.model.init, device="cpu", dtype=torch.float32)
    configs = builtin_configs(config.model.profile)
    if configs is None:
        raise ConfigError("model.profile: no built-in configs named %r; give model.init, a profile directory"
                          % config.model.profile)
    return build_from_configs(configs, seed=config.seed)


def is_motion_parameter(name: str) -> bool:
    """The motion modules, and conv_in: its fg-latent and mask channels are new in ActAnywhere (zero
    in a widened SD U-Net), so a motion-only run must train them too or never see its inputs."""
    return "motion_modules" in name or name.startswith("conv_in.")


def trainable_parameters(unet: torch.nn.Module, which: str) -> List[torch.nn.Parameter]:
    unet.requires_grad_(False)
    chosen = [p for n, p in unet.named_parameters() if which == "all" or is_motion_parameter(n)]
    for parameter in chosen:
        parameter.requires_grad_(True)
    return chosen


def resolve_mixed_precision(setting: str) -> str:
    """'auto': bf16 on a CUDA GPU with bf16, fp16 on other CUDA GPUs, no elsewhere (CPU autocast is slow)."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


# -- encoding with the frozen parts ---------------------------------------------------------------
@torch.inference_mode()
def encode_frames(pipeline, frames: np.ndarray, vae_batch: int = 8) -> torch.Tensor:
    """(T, H, W, 3) in [0, 1] -> (1, 4, T, h, w) scaled VAE latents, encoded as the pipeline encodes
    its foreground (the distribution's mode)."""
    scaling = pipeline.profile.vae_scaling_factor
    latents = []
    for start in range(0, frames.shape[0], vae_batch):
        rgb = torch.from_numpy(np.ascontiguousarray(frames[start:start + vae_batch])).permute(0, 3, 1, 2)
        pixels = (rgb * 2 - 1).to(pipeline.device, pipeline.dtype)
        latents.append(pipeline.model.vae.encode(pixels).latent_dist.mode().float() * scaling)
    return torch.cat(latents).permute(1, 0, 2, 3)[None]


class LatentCache:
    """The frozen VAE's latents of target frames, one file per frame, keyed by the file's path, size
    and mtime, the training size, the colour settings, the VAE's weights and the latent scaling factor
    (the files hold scaled latents: a re-measured `vae_scaling_factor` with the same VAE weights must
    not read back latents scaled by the old one)."""

    def __init__(self, folder: str, vae: torch.nn.Module, settings, scaling_factor: float):
        self.folder = Path(folder)
        self.scaling_factor = float(scaling_factor)
        digest = hashlib.sha256()
        for name, tensor in sorted(vae.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        self.salt = "%s|%dx%d|%s|%s|scale=%r" % (digest.hexdigest(), settings.height, settings.width,
                                                 settings.model_colourspace, settings.ocio_config,
                                                 self.scaling_factor)

    def path(self, frame_path: str, colourspace: str) -> Path:
        stat = os.stat(frame_path)
        key = "%s|%s|%d|%d|%s" % (os.path.abspath(frame_path), colourspace, stat.st_size, stat.st_mtime_ns, self.salt)
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.folder / name[:2] / (name + ".pt")

    def latents(self, pipeline, clip, frame_numbers: List[int], frames: np.ndarray) -> torch.Tensor:
        if float(pipeline.profile.vae_scaling_factor) != self.scaling_factor:
            raise ValueError("latent cache made for vae_scaling_factor %r, the pipeline scales by %r"
                             % (self.scaling_factor, pipeline.profile.vae_scaling_factor))
        paths = [self.path(clip.frames.path(number), clip.colourspace) for number in frame_numbers]
        if all(path.is_file() for path in paths):
            return torch.stack([torch.load(path, map_location="cpu") for path in paths], dim=1)[None]
        latents = encode_frames(pipeline, frames).cpu()
        for index, path in enumerate(paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".tmp%d" % os.getpid())
            torch.save(latents[0, :, index].clone(), partial)
            os.replace(partial, path)
        return latents


# -- checkpoints ----------------------------------------------------------------------------------
def checkpoint_dirs(output_dir: Path) -> List[Path]:
    """Complete checkpoints (those with a state file), oldest first."""
    folder = output_dir / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith(CHECKPOINT_PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))


def _resume_from(config: TrainingConfig, output_dir: Path) -> Optional[Path]:
    if config.resume == "never":
        return None
    if config.resume == "auto":
        found = checkpoint_dirs(output_dir)
        return found[-1] if found else None
    path = Path(config.resume)
    if not (path / STATE_FILE).is_file():
        raise ConfigError("resume: %s is not a checkpoint folder (no %s in it)" % (path, STATE_FILE))
    return path


def _truncate_loss_log(path: Path, step: int) -> None:
    """Drop rows after `step`, so a resumed run's log reads as one run."""
    if not path.is_file():
        return
    with open(path, newline="") as stream:
        rows = [row for row in csv.reader(stream)]
    kept = [rows[0]] + [row for row in rows[1:] if row and int(row[0]) <= step] if rows else []
    with open(path, "w", newline="") as stream:
        csv.writer(stream).writerows(kept)


# -- the loop -------------------------------------------------------------------------------------
def run_training(config_path: str, progress: Optional[ProgressCallback] = None,
                 log: Optional[Callable[[str], None]] = None) -> TrainingResult:
    """`actanywhere train CONFIG`: read and check the config, then train (see `train`)."""
    return train(load_training_config(config_path), progress=progress, log=log)


def train(config: TrainingConfig, progress: Optional[ProgressCallback] = None,
          log: Optional[Callable[[str], None]] = None) -> TrainingResult:
    """Train as `config` says; resume from the latest checkpoint in output_dir unless resume: never.

    Reports stage "train" (done/total optimizer steps) to `progress` and one-line messages to `log`
    on the main process. A KeyboardInterrupt in a single-process run saves a checkpoint at the last
    finished step before it propagates."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    from actanywhere.engine.model.pipeline import ActAnywherePipeline, Conditioning
    from actanywhere.engine.model.profile_files import save_pretrained

    progress = progress or ignore_progress
    output_dir = Path(config.output_dir)
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    accelerator = Accelerator(
        mixed_precision=resolve_mixed_precision(config.mixed_precision),
        log_with="tensorboard" if tensorboard else None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    )
    main = accelerator.is_main_process

    def say(message: str) -> None:
        if main:
            logger.info(message)
            if log:
                log(message)

    # Data first: a bad manifest should fail before any model is built.
    clips = resolve_clips(config.data.manifest, (config.data.frames - 1) * config.data.frame_stride + 1)

    model = build_model(config)
    profile = model.profile
    factor = model.vae_scale_factor
    if config.data.height % factor or config.data.width % factor:
        raise ConfigError("data.height/data.width: %dx%d must be multiples of the VAE scale factor %d"
                          % (config.data.height, config.data.width, factor))
    if config.data.frames > model.max_frames_per_call:
        raise ConfigError("data.frames: %d is above the U-Net's motion_max_seq_length %d"
                          % (config.data.frames, model.max_frames_per_call))
    dropout = profile.condition_dropout if config.condition_dropout is None else config.condition_dropout
    model.to(device=accelerator.device, dtype=torch.float32)
    pipeline = ActAnywherePipeline(model)
    unet = model.unet
    unet.train()
    params = trainable_parameters(unet, config.trainable)
    if config.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    noise_scheduler = DDPMScheduler(**profile.noise_schedule)
    num_train_timesteps = int(profile.noise_schedule.get("num_train_timesteps", 1000))

    opt = config.optimizer
    optimizer = torch.optim.AdamW(params, lr=opt.learning_rate, betas=(opt.beta1, opt.beta2),
                                  weight_decay=opt.weight_decay, eps=opt.epsilon)
    # accelerate steps a prepared scheduler once per process each step: scale the warm-up to match.
    lr_scheduler = get_scheduler("constant_with_warmup", optimizer,
                                 num_warmup_steps=opt.warmup_steps * accelerator.num_processes)
    unet_trained, optimizer, lr_scheduler = accelerator.prepare(unet, optimizer, lr_scheduler)
    ema = None
    if config.ema_decay > 0:
        ema = EMAModel(params, decay=config.ema_decay)
        ema.to(accelerator.device)
        accelerator.register_for_checkpointing(ema)
    cache = (LatentCache(config.data.latent_cache, model.vae, config.data, profile.vae_scaling_factor)
             if config.data.latent_cache else None)

    start_step = 0
    resume = _resume_from(config, output_dir)
    if resume is not None:
        accelerator.load_state(str(resume))
        start_step = int(json.loads((resume / STATE_FILE).read_text())["step"])
        say("resumed from %s at step %d" % (resume, start_step))
    if main:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "training.json").write_text(json.dumps(schema.to_data(config), indent=2) + "\n")
        _truncate_loss_log(output_dir / LOSS_FILE, start_step)
        if tensorboard:
            accelerator.init_trackers("actanywhere")

    def save_checkpoint(step: int) -> None:
        folder = output_dir / CHECKPOINTS / ("%s%08d" % (CHECKPOINT_PREFIX, step))
        accelerator.wait_for_everyone()
        accelerator.save_state(str(folder))  # model, optimizer, scheduler, EMA, every process's RNG
        if main:
            # The state file goes last: a checkpoint without it is incomplete and never resumed from.
            (folder / STATE_FILE).write_text(json.dumps({"step": step, "steps": config.steps}) + "\n")
            for old in checkpoint_dirs(output_dir)[:-config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        accelerator.wait_for_everyone()
        say("checkpoint %s" % folder)

    samples = StepSamples(clips, config.data, config.mask_augment, config.seed, start_step, config.steps,
                          config.batch_size, accelerator.process_index, dropout, num_train_timesteps)
    loader = torch.utils.data.DataLoader(samples, batch_size=config.batch_size, shuffle=False,
                                         num_workers=config.data.workers, collate_fn=collate)
    result = TrainingResult(output_dir, None, start_step, start_step)
    clock = EtaClock()
    window_losses: List[float] = []
    window_started = time.monotonic()
    run_started = time.monotonic()
    step = start_step
    say("training %s from step %d to %d on %d process(es), %s, mixed precision %s"
        % (profile.name, start_step, config.steps, accelerator.num_processes, accelerator.device,
           accelerator.mixed_precision))
    try:
        for batch in loader:
            loss = _training_step(batch, pipeline, unet_trained, noise_scheduler, cache, clips, accelerator,
                                  Conditioning)
            accelerator.backward(loss)
            if accelerator.sync_gradients and opt.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, opt.max_grad_norm)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.step(params)
            step += 1
            value = float(loss.detach())
            result.losses.append((step, value))
            window_losses.append(value)
            if step % config.log_every == 0 or step == config.steps:
                mean = accelerator.gather(torch.tensor([np.mean(window_losses)], device=accelerator.device)).mean()
                seconds = (time.monotonic() - window_started) / len(window_losses)
                if main:
                    _append_loss_row(output_dir / LOSS_FILE, step, float(mean), lr_scheduler.get_last_lr()[0], seconds)
                    if tensorboard:
                        accelerator.log({"loss": float(mean), "lr": lr_scheduler.get_last_lr()[0]}, step=step)
                window_losses, window_started = [], time.monotonic()
            result.step = step
            if main:
                done, total = step - start_step, config.steps - start_step
                progress(ProgressEvent("train", step, config.steps, step=step, steps=config.steps,
                                       eta_s=clock.eta(done, total), message="loss %.4f" % value))
            if step % config.checkpoint_every == 0 or step == config.steps:
                save_checkpoint(step)
    except KeyboardInterrupt:
        if accelerator.num_processes == 1 and step > start_step and not (output_dir / CHECKPOINTS / (
                "%s%08d" % (CHECKPOINT_PREFIX, step))).is_dir():
            save_checkpoint(step)
        raise
    if step > start_step:
        result.seconds_per_step = (time.monotonic() - run_started) / (step - start_step)

    accelerator.wait_for_everyone()
    if main and step == config.steps:
        result.model_dir = _save_trained(model, accelerator.unwrap_model(unet_trained), params, ema, config, dropout,
                                         output_dir, save_pretrained)
        say("trained profile written to %s" % result.model_dir)
    if tensorboard and main:
        accelerator.end_training()
    return result


def _training_step(batch: List[dict], pipeline, unet, noise_scheduler, cache, clips, accelerator, Conditioning):
    """The loss of one batch on this process."""
    device = accelerator.device
    parts: Dict[str, list] = {"fg": [], "mask": [], "embeds": [], "target": [], "noise": [], "spatial": []}
    for sample in batch:
        # The inference pipeline's own encoder: grey background, the profile's mask downsampling.
        conditioning = pipeline.encode_conditioning(sample["frames"], sample["matte"], sample["condition"])
        if cache is not None:
            target = cache.latents(pipeline, clips[sample["clip_index"]], sample["frame_numbers"], sample["frames"])
        else:
            target = encode_frames(pipeline, sample["frames"])
        embeds = conditioning.uncond_embeds if sample["drop_condition"] else conditioning.image_embeds
        generator = torch.Generator(device="cpu").manual_seed(sample["noise_seed"])
        # clone(): tensors made under inference_mode cannot take part in autograd.
        parts["fg"].append(conditioning.fg_latents.clone())
        parts["mask"].append(conditioning.mask.clone())
        parts["embeds"].append(embeds.clone())
        if conditioning.condition_latents is not None:  # a spatial condition drops with the embedding
            spatial = conditioning.condition_latents
            parts["spatial"].append(torch.zeros_like(spatial) if sample["drop_condition"] else spatial.clone())
        parts["target"].append(target.clone().to(device))
        parts["noise"].append(torch.randn(target.shape, generator=generator, dtype=torch.float32).to(device))
    target = torch.cat(parts["target"])
    noise = torch.cat(parts["noise"])
    embeds = torch.cat(parts["embeds"]).to(device)
    timesteps = torch.tensor([sample["timestep"] for sample in batch], dtype=torch.long, device=device)
    noisy = noise_scheduler.add_noise(target, noise, timesteps)
    conditioning = Conditioning(torch.cat(parts["fg"]).to(device), torch.cat(parts["mask"]).to(device),
                                embeds, torch.zeros_like(embeds), text_embeds=pipeline.model.text_embeds,
                                condition_latents=torch.cat(parts["spatial"]).to(device) if parts["spatial"] else None)
    sample = pipeline.model_input(noisy, conditioning)
    # The pipeline's own conditioning keywords, so both conditioning modes (CLIP tokens, IP-Adapter) train.
    unet_kwargs = pipeline.unet_conditioning(embeds, conditioning, frames=sample.shape[2])
    with accelerator.autocast():
        prediction = unet(sample, timesteps, **unet_kwargs).sample
    return F.mse_loss(prediction.float(), prediction_target(noise_scheduler, target, noise, timesteps))


def prediction_target(noise_scheduler, latents, noise, timesteps):
    """What the U-Net learns to predict: the noise (epsilon), or v = sqrt(a) noise - sqrt(1 - a) x0
    ("v_prediction", which keeps the clean latent recoverable at high noise: a small model's epsilon
    error there is amplified by 1 / sqrt(a), about 15x at SD's last timestep)."""
    kind = noise_scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return noise_scheduler.get_velocity(latents, noise, timesteps)
    raise ConfigError("noise_schedule.prediction_type %r: the trainer supports epsilon and v_prediction" % kind)


def _append_loss_row(path: Path, step: int, loss: float, learning_rate: float, seconds: float) -> None:
    new = not path.is_file()
    with open(path, "a", newline="") as stream:
        writer = csv.writer(stream)
        if new:
            writer.writerow(LOSS_COLUMNS)
        writer.writerow([step, "%.6g" % loss, "%.6g" % learning_rate, "%.4g" % seconds])


def _save_trained(model, unet, params, ema, config: TrainingConfig, dropout: float, output_dir: Path,
                  save_pretrained) -> Path:
    """The trained model as a profile directory (EMA weights when there is an EMA), loadable with
    load_profile(path=...)."""
    from actanywhere.engine.model.architecture import ActAnywhereModel

    if ema is not None:
        ema.store(params)
        ema.copy_to(params)
    try:
        profile = dataclasses.replace(model.profile, name=config.model.output_name or model.profile.name,
                                      condition_dropout=dropout,
                                      native_size=(config.data.height, config.data.width, config.data.frames))
        trained = ActAnywhereModel(profile, unet, model.vae, model.image_encoder, trained=True,
                                   text_embeds=model.text_embeds, detail=model.detail,
                                   interaction=model.interaction)
        final = output_dir / MODEL_DIR
        partial = output_dir / (MODEL_DIR + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        save_pretrained(trained, partial)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
    finally:
        if ema is not None:
            ema.restore(params)
    return final
