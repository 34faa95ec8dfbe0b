"""TrainingConfig: what `actanywhere train CONFIG` reads, checked by the project's schema so an error
names the file and the key path.

Pure Python + PyYAML (no torch): a config can be checked anywhere.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional, Type, TypeVar

from actanywhere.engine import schema
from actanywhere.engine.config import expand_environment, read_yaml_mapping
from actanywhere.engine.schema import setting

T = TypeVar("T")

TRAINING_SCHEMA_VERSION = 1
TRAINABLE = ("all", "motion_modules")
MIXED_PRECISION = ("auto", "no", "fp16", "bf16")


def _rate(value: float) -> Optional[str]:
    return None if 0.0 <= value <= 1.0 else "a rate must lie in [0, 1], got %g" % value


@dataclass
class DataSettings:
    manifest: str = setting(is_path=True, help="the clip manifest (YAML or CSV), see docs/training.md")
    frames: int = setting(16, minimum=1, maximum=64, help="frames per training clip (the motion modules' window)")
    height: int = setting(256, minimum=8, help="training height in pixels (a multiple of the VAE scale factor)")
    width: int = setting(256, minimum=8, help="training width in pixels (a multiple of the VAE scale factor)")
    frame_stride: int = setting(1, minimum=1, help="take every n-th frame of the source for a clip")
    condition_image_rate: float = setting(
        0.0, minimum=0.0, maximum=1.0,
        help="rate of samples conditioned on the clip's `condition` image (manifest) instead of a random frame "
             "of the clip; clips without one always use a frame")
    latent_cache: Optional[str] = setting(None, is_path=True,
                                          help="folder caching the frozen VAE's latents of the target frames")
    workers: int = setting(0, minimum=0, help="DataLoader worker processes reading frames (0: in the main process)")
    model_colourspace: str = setting("sRGB Encoded Rec.709 (sRGB)", help="the model's display-referred space")
    ocio_config: Optional[str] = setting(None, help="OCIO config; null: $OCIO, else OpenImageIO's built-in")


@dataclass
class ModelSource:
    profile: str = setting("tiny", help="built-in profile whose configs build an untrained model (e.g. tiny)")
    init: Optional[str] = setting(None, is_path=True,
                                  help="profile directory to start from (wins over `profile`)")
    output_name: Optional[str] = setting(None, help="name of the trained profile (default: the source's name)")


@dataclass
class OptimizerSettings:
    learning_rate: float = setting(1e-4, minimum=0.0, help="AdamW learning rate")
    weight_decay: float = setting(1e-2, minimum=0.0, help="AdamW weight decay")
    beta1: float = setting(0.9, minimum=0.0, maximum=1.0)
    beta2: float = setting(0.999, minimum=0.0, maximum=1.0)
    epsilon: float = setting(1e-8, minimum=0.0)
    warmup_steps: int = setting(0, minimum=0, help="linear learning-rate warm-up")
    max_grad_norm: float = setting(1.0, minimum=0.0, help="gradient clipping; 0 disables it")


@dataclass
class MaskAugmentSettings:
    """Each op fires on a clip with its rate and then acts on every frame of the clip alike."""

    erode_dilate: float = setting(0.5, check=_rate, help="rate of eroding or dilating the matte")
    erode_dilate_max_px: int = setting(6, minimum=1, help="largest erosion/dilation radius, at training size")
    blur: float = setting(0.3, check=_rate, help="rate of blurring the matte")
    blur_max_px: float = setting(3.0, minimum=0.1, help="largest blur sigma, at training size")
    holes: float = setting(0.2, check=_rate, help="rate of punching holes into the subject")
    holes_max: int = setting(3, minimum=1, help="most holes per clip")
    hole_max_fraction: float = setting(0.3, minimum=0.01, maximum=1.0, help="largest hole side / subject box side")
    bounding_box: float = setting(0.1, check=_rate, help="rate of replacing the matte by its bounding box")


@dataclass
class TrainingConfig:
    data: DataSettings
    output_dir: str = setting(is_path=True, help="where checkpoints, loss.csv and the trained profile go")
    schema_version: int = setting(TRAINING_SCHEMA_VERSION, choices=(TRAINING_SCHEMA_VERSION,))
    model: ModelSource = field(default_factory=ModelSource)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    mask_augment: MaskAugmentSettings = field(default_factory=MaskAugmentSettings)
    steps: int = setting(10000, minimum=1, help="optimizer steps")
    batch_size: int = setting(1, minimum=1, help="clips per step per process")
    trainable: str = setting("all", choices=TRAINABLE,
                             help="all U-Net weights, or the motion modules (and the 9-channel conv_in) only")
    condition_dropout: Optional[float] = setting(None, check=_rate,
                                                 help="rate of dropping the condition (null: the profile's, 0.1)")
    ema_decay: float = setting(0.9999, minimum=0.0, maximum=1.0, help="EMA decay; 0 disables the EMA")
    mixed_precision: str = setting("auto", choices=MIXED_PRECISION,
                                   help="auto: bf16 on a CUDA GPU that has it, else fp16 on CUDA, no on CPU")
    gradient_checkpointing: bool = setting(False, help="recompute activations in the backward pass")
    seed: int = setting(0, minimum=0, help="seeds the weights' init, data order, noise and augmentation")
    checkpoint_every: int = setting(1000, minimum=1, help="steps between checkpoints (and one at the end)")
    keep_checkpoints: int = setting(3, minimum=1, help="checkpoints kept; older ones are deleted")
    log_every: int = setting(10, minimum=1, help="steps between loss rows in loss.csv")
    resume: str = setting("auto", help="auto: resume from the latest checkpoint in output_dir; never; or a checkpoint folder")

    def __post_init__(self):
        if self.resume not in ("auto", "never") and not self.resume:
            raise ValueError("resume: give auto, never or a checkpoint folder")


def load_config_file(cls: Type[T], path: str, what: str, environ=None) -> T:
    """Read and check one of the training commands' configs (YAML or JSON) as `cls`. Relative paths
    resolve against its folder; ${NAME} expands from the environment. Errors name the file and the key path."""
    data = read_yaml_mapping(path, what)
    data = expand_environment(data, os.environ if environ is None else environ, path)
    try:
        return schema.build(cls, data, context=schema.Context(base_dir=os.path.dirname(os.path.abspath(path))))
    except schema.Invalid as error:
        raise schema.config_error(error, path)


def reporter(logger, log: Optional[Callable[[str], None]]) -> Callable[[str], None]:
    """A training command's `say`: the message to the module's logger and to the caller's `log`."""
    def say(message: str) -> None:
        logger.info(message)
        if log:
            log(message)

    return say


def load_training_config(path: str, environ=None) -> TrainingConfig:
    """Read and check a training config (load_config_file); a relative `resume` folder resolves against
    the config's folder too."""
    config = load_config_file(TrainingConfig, path, "training config", environ)
    resume = config.resume
    if isinstance(resume, str) and resume not in ("auto", "never") and not os.path.isabs(resume):
        config.resume = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), resume))
    return config
