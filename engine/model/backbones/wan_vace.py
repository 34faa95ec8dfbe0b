"""The wan-vace backbone: Wan 2.1 VACE (Apache-2.0, 1.3B and 14B) through diffusers' WanVACEPipeline.

VACE keeps what a mask leaves and generates the rest from a reference image, which is this job. The
ActAnywhere inputs map to VACE's as follows:

- `video`: each frame's subject (the plate through its matte) over, in the region to generate, the
  condition as that frame sees it when the plate's camera is tracked (camera/condition_warp.py: VACE
  takes it as context to regenerate), else VACE's neutral grey;
- `mask`: 1 - matte (1 = generate), so the subject is kept;
- `reference_images`: the condition image;
- an optional prompt (sampler.prompt, empty by default), its UMT5 embedding cached per prompt.

Frames go in windows of 4k+1 (the 3D VAE compresses time by 4), at most the profile's native frames;
a window after the first gets the frames it shares with the one before as kept context (mask 0, their
generated pixels as video), so consecutive windows continue each other instead of being blended. A
short last window is padded with its last frame. bf16 on CUDA (what Wan was trained in; fp16
overflows), float32 on CPU; the VAE always float32.

A profile directory (`actanywhere model init wan-vace --from DIR --out DIR`) holds actanywhere.json
(kind wan-vace), weights.sha256 and the diffusers layout of Wan-AI/Wan2.1-VACE-1.3B-diffusers (or
-14B-diffusers): model_index.json, transformer/, vae/, text_encoder/, tokenizer/, scheduler/ (linked
to the folder it was made from).

A plate larger than the working size is refined at plate size in latent windows x tiles
(backbones/wan_vace_refine.py). Not yet behind this backbone (docs/model.md): the interaction and
detail passes.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Optional, Tuple

import numpy as np

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.profile import NativeSize
from actanywhere.engine.progress import EtaClock, ProgressEvent, ignore_progress

KIND = "wan-vace"
PROFILE_FILE = "actanywhere.json"
CHECKSUM_FILE = "weights.sha256"
PROFILE_FORMAT = 1
NEUTRAL_GREY = 0.5  # VACE's fill of the region to generate ([-1, 1] zero)
# component folder -> (config file, weights file name as diffusers writes it, possibly sharded)
COMPONENTS = {
    "transformer": ("config.json", "diffusion_pytorch_model.safetensors"),
    "vae": ("config.json", "diffusion_pytorch_model.safetensors"),
    "text_encoder": ("config.json", "model.safetensors"),
}
OTHER_FILES = ("model_index.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer_config.json")


@dataclass
class WanVaceProfile(NativeSize):
    """A wan-vace profile: what generate needs to know of it, and the sampling defaults."""

    name: str = KIND
    kind: str = KIND
    # (height, width, frames): Wan 2.1 VACE 1.3B is trained at 480x832, 81 frames; 14B also at 720x1280.
    native_size: Tuple[int, int, int] = (480, 832, 81)
    default_steps: int = 30
    default_guidance_scale: float = 5.0
    negative_prompt: str = ""
    max_sequence_length: int = 512
    default_tile_size: int = 832  # read by the tiling plan; wan-vace samples untiled for now
    keep_condition: bool = False
    description: str = ""
    dtype_policy: Dict[str, str] = field(default_factory=lambda: {"cpu": "float32", "cuda": "bfloat16"})

    def __post_init__(self):
        self.native_size = tuple(int(v) for v in self.native_size)
        height, width, frames = self.native_size
        if min(self.native_size) <= 0 or (frames - 1) % 4:
            raise ModelError("profile '%s': native_size must be [height, width, 4k+1 frames], "
                             "got %s" % (self.name, list(self.native_size)))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["native_size"] = list(self.native_size)
        return {"format": PROFILE_FORMAT, **data}

    def save(self, directory) -> Path:
        path = Path(directory) / PROFILE_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory) -> "WanVaceProfile":
        path = Path(directory) / PROFILE_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError("%s: not a readable profile file (%s); `actanywhere model init wan-vace` "
                             "writes it" % (path, exc)) from None
        data = dict(data)
        if data.pop("format", None) != PROFILE_FORMAT or data.get("kind") != KIND:
            raise ModelError("%s: not a wan-vace profile (format %s, kind %s)" % (path, PROFILE_FORMAT, KIND))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError("%s: unknown keys %s; expected some of %s" % (path, unknown, sorted(known)))
        return cls(**data)


# -- the files -------------------------------------------------------------------------------------
def expected_files() -> List[str]:
    return ([PROFILE_FILE] + ["%s/%s" % (part, config) for part, (config, _) in COMPONENTS.items()]
            + ["%s/%s" % (part, weights) for part, (_, weights) in COMPONENTS.items()] + list(OTHER_FILES))


def missing_files(directory, with_profile: bool = True) -> List[str]:
    """The expected files absent from a wan-vace directory (relative paths); empty when complete."""
    from actanywhere.engine.model.profile_files import missing_part_files

    directory = Path(directory)
    missing = [] if not with_profile or (directory / PROFILE_FILE).is_file() else [PROFILE_FILE]
    missing += missing_part_files(directory, COMPONENTS)
    return missing + [name for name in OTHER_FILES if not (directory / name).is_file()]


def file_checksums(directory) -> Dict[str, str]:
    """sha256 of every weight file, by relative path (what weights.sha256 lists)."""
    from actanywhere.engine.model.profile_files import part_checksums

    return part_checksums(Path(directory), COMPONENTS)


def _missing_error(directory: Path, missing: List[str]) -> ModelError:
    return ModelError(
        "%s: not a complete wan-vace profile directory; missing %s. Expected "
        "%s (weights may be sharded with a .index.json): the layout of "
        "Wan-AI/Wan2.1-VACE-1.3B-diffusers or -14B-diffusers, made a profile by `actanywhere model init wan-vace`"
        % (directory, ', '.join(missing), ', '.join(expected_files())))


def init_profile(source, out, name: str = KIND, native_size: Optional[Tuple[int, int, int]] = None) -> Path:
    """A profile directory from a local diffusers folder of Wan 2.1 VACE: its components linked (a 14B
    folder is 75 GB), actanywhere.json and weights.sha256 written. Never over an existing `out`."""
    from actanywhere.engine.model.profile_files import _manifest_text

    source, out = Path(source).resolve(), Path(out)
    missing = missing_files(source, with_profile=False)
    if missing:
        raise _missing_error(source, missing)
    if out.exists():
        raise ModelError("%s already exists; profile directories are never overwritten: choose a new --out" % (out,))
    if native_size is None:
        native_size = _native_size_of(source)
    staging = out.parent / (".%s.init-%d" % (out.name, os.getpid()))
    staging.mkdir(parents=True)
    try:
        for entry in sorted(os.listdir(source)):
            if entry not in (PROFILE_FILE, CHECKSUM_FILE) and not entry.startswith("."):
                os.symlink(source / entry, staging / entry)
        WanVaceProfile(name=name, native_size=native_size,
                       description="Wan 2.1 VACE from %s" % (source,)).save(staging)
        (staging / CHECKSUM_FILE).write_text(_manifest_text(file_checksums(staging)))
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _native_size_of(source: Path) -> Tuple[int, int, int]:
    """480x832 for the 1.3B model, 720x1280 for the 14B one (by its width), 81 frames."""
    try:
        config = json.loads((source / "transformer" / "config.json").read_text())
        width = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError("%s: not a WanVACETransformer3DModel config (%s)"
                         % (source / 'transformer' / 'config.json', exc))
    return (720, 1280, 81) if width >= 5120 else (480, 832, 81)


# -- windows ---------------------------------------------------------------------------------------
def window_length(frames: int, native_frames: int, temporal: int = 4, window_frames: Optional[int] = None) -> int:
    """Frames per call: 4k+1 (for a temporal factor of 4), at most the native frames (or `window_frames`)
    and no more than the shot needs (its frames rounded up to 4k+1)."""
    limit = min(int(window_frames or native_frames), native_frames)
    limit = 1 + (max(limit, 1) - 1) // temporal * temporal
    needed = 1 + -(-(frames - 1) // temporal) * temporal
    return min(limit, needed)


def frame_windows(frames: int, length: int, overlap: int = 0) -> List[Tuple[int, int]]:
    """[start, stop) windows of `length` covering `frames`, sharing at least `overlap` frames (at least
    one, so each window continues the one before); the last one ends at the shot's end."""
    if frames <= length:
        return [(0, frames)]
    overlap = max(1, min(int(overlap) or 1, length - 1))
    starts = list(range(0, frames - length, length - overlap)) + [frames - length]
    return [(start, start + length) for start in starts]


# -- models from configs (tests, benchmarks) ------------------------------------------------------
CONFIG_NAMES = ("wan-vace-1.3b", "wan-vace-14b", "wan-vace-tiny")  # folders of engine/model/configs/


def configs_folder(name: str) -> Path:
    from actanywhere.engine.model.profile_files import CONFIGS_DIR

    folder = CONFIGS_DIR / name
    if name not in CONFIG_NAMES or not (folder / "transformer.json").is_file():
        raise ModelError("no wan-vace configs named %r; known: %s" % (name, ', '.join(CONFIG_NAMES)))
    return folder


def read_configs(name: str) -> Dict[str, dict]:
    """transformer, vae, text_encoder (UMT5), scheduler and profile settings of a configs folder: the
    public config.json values of Wan-AI/Wan2.1-VACE-1.3B/14B-diffusers, or a tiny model's."""
    folder = configs_folder(name)
    return {part: json.loads((folder / ("%s.json" % part)).read_text())
            for part in ("transformer", "vae", "text_encoder", "scheduler", "profile")}


def placeholder_tokenizer():
    """A word-level tokenizer for models with random weights (the real UMT5 tokenizer comes with the
    weights): a handful of words, enough to tell prompts apart."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "</s>", "<unk>", "a", "beach", "at", "dusk", "street", "night"]
    tokenizer = Tokenizer(models.WordLevel({word: index for index, word in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def build_from_configs(name: str, seed: int = 0, text_encoder: bool = True):
    """A diffusers WanVACEPipeline with random weights at a configs folder's sizes, on the current torch
    device (inside `with torch.device("meta"):` it costs nothing: for parameter counts). Without
    `text_encoder`, prompts must come as embeddings (benchmarks: UMT5-XXL is 5.7B parameters)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    configs = read_configs(name)
    torch.manual_seed(seed)
    transformer = dict(configs["transformer"], patch_size=tuple(configs["transformer"]["patch_size"]))
    with torch.device("cpu"):  # the scheduler's tables hold data, also when the models go on the meta device
        scheduler = UniPCMultistepScheduler(**configs["scheduler"])
    return WanVACEPipeline(
        tokenizer=placeholder_tokenizer() if text_encoder else None,
        text_encoder=UMT5EncoderModel(UMT5Config(**configs["text_encoder"])) if text_encoder else None,
        vae=AutoencoderKLWan(**configs["vae"]), scheduler=scheduler, transformer=WanVACETransformer3DModel(**transformer))


def save_random(name: str, directory, seed: int = 0) -> Path:
    """A random model of a configs folder saved in the diffusers layout that `init_profile` reads
    (the tiny one is about 1 MB)."""
    build_from_configs(name, seed).save_pretrained(str(directory))
    return Path(directory)


# -- loading ---------------------------------------------------------------------------------------
def load(name: str, path, device: str = "cpu", dtype=None) -> "WanVacePipeline":
    """The pipeline of a wan-vace profile directory. There are no built-in weights: `path` is required."""
    if path is None:
        raise ModelError("model profile '%s' is a wan-vace profile: set models.profiles.%s.path to a "
                         "directory made by `actanywhere model init wan-vace --from DIR --out DIR` (holding "
                         "%s)" % (name, name, ', '.join(expected_files())))
    import torch
    from diffusers import WanVACEPipeline

    from actanywhere.engine.model.architecture import torch_dtype
    from actanywhere.engine.model.profile_files import checksum

    directory = Path(path)
    missing = missing_files(directory) if directory.is_dir() else expected_files()
    if missing:
        raise _missing_error(directory, missing)
    profile = WanVaceProfile.load(directory)
    device = torch.device(device)
    # Wan is trained in bf16: float16 (the U-Net profiles' CUDA default) overflows in its attention.
    dtype = torch_dtype(profile.dtype_name(device.type) if dtype in (None, "float16") else dtype)
    try:
        # The 3D VAE decodes visibly worse in bf16: it stays float32.
        pipe = WanVACEPipeline.from_pretrained(str(directory), dtype={"default": dtype, "vae": torch.float32})
    except Exception as exc:  # the libraries raise OSError, ValueError, RuntimeError, SafetensorError...
        raise ModelError("%s: cannot load the Wan VACE pipeline (%s: %s); expected "
                         "%s" % (directory, type(exc).__name__, exc, ', '.join(expected_files()))) from exc
    pipe.to(device)
    if device.type == "cuda":  # UMT5-XXL (11.4 GB in bf16) waits on the CPU: it runs once per prompt
        pipe.text_encoder.to("cpu")
    pipe.set_progress_bar_config(disable=True)
    return WanVacePipeline(pipe, profile, checksum(directory), device, dtype)


class WanVacePipeline:
    """The generate-facing pipeline (backbones/__init__.py) of a loaded Wan VACE model."""

    supports_refinement = True  # in latent windows x tiles at plate size (backbones/wan_vace_refine.py)

    def plate_refiner(self, frames: int, width: int, height: int, plan, scratch_dir=None):
        from actanywhere.engine.model.backbones.wan_vace_refine import WanPlateRefiner

        return WanPlateRefiner(self, frames, width, height, plan, scratch_dir)

    def predict_velocity(self, sample, control, timestep, embeds, negative, guidance_scale: float, scale):
        """One denoising step's prediction for one window x tile: `sample` (1, C, F, h, w) latents with
        VACE's reference frame first, `control` the same region of the control latents; classifier-free
        guidance with the negative prompt's embedding when guidance_scale > 1. Returns (the float32
        prediction, the transformer calls it took)."""
        transformer = self.pipe.transformer
        inputs = dict(hidden_states=sample.to(self.dtype), timestep=timestep.expand(1).to(sample.device),
                      control_hidden_states=control, control_hidden_states_scale=scale, return_dict=False)
        predicted = transformer(encoder_hidden_states=embeds, **inputs)[0].float()
        if negative is None or guidance_scale <= 1.0:
            return predicted, 1
        unconditional = transformer(encoder_hidden_states=negative, **inputs)[0].float()
        return unconditional + guidance_scale * (predicted - unconditional), 2

    def encode_condition(self, condition: np.ndarray):
        """The condition image as VACE's reference image (a PIL image), what the refiner takes."""
        from PIL import Image

        pixels = np.clip(np.asarray(condition, np.float32)[..., :3], 0.0, 1.0)
        return Image.fromarray((pixels * 255.0 + 0.5).astype(np.uint8))

    def __init__(self, pipe, profile: WanVaceProfile, checksum: str, device, dtype):
        self.pipe, self.profile = pipe, profile
        self.device, self.dtype = device, dtype
        patch = pipe.transformer.config.patch_size[1]
        self.vae_scale_factor = int(pipe.vae_scale_factor_spatial * patch)
        self.temporal_factor = int(pipe.vae_scale_factor_temporal)
        self.model = SimpleNamespace(interaction=None, detail=None, checksum=checksum,
                                     max_frames_per_call=profile.native_frames)
        self._prompts = {}  # type: Dict[Tuple[str, str, bool], Tuple[object, object]]
        self.transformer_calls = 0  # denoising steps run, for tests and benchmarks

    def window_length(self, frames: int, window_frames: Optional[int] = None) -> int:
        return window_length(frames, self.profile.native_frames, self.temporal_factor, window_frames)

    def windows(self, frames: int, window_frames: Optional[int] = None, overlap: int = 0) -> List[Tuple[int, int]]:
        return frame_windows(frames, self.window_length(frames, window_frames), overlap)

    def prompt_embeds(self, prompt: str, guided: bool):
        """The prompt's (and the negative prompt's) UMT5 embedding, encoded once per prompt. On CUDA the
        text encoder comes to the GPU for it and goes back to the CPU (about a second each way)."""
        key = (prompt, self.profile.negative_prompt, guided)
        if key not in self._prompts:
            import torch

            encoder = self.pipe.text_encoder
            on_cpu = self.device.type == "cuda"
            if on_cpu:
                encoder.to(self.device)
            try:
                with torch.inference_mode():
                    self._prompts[key] = self.pipe.encode_prompt(
                        prompt, self.profile.negative_prompt, do_classifier_free_guidance=guided,
                        max_sequence_length=self.profile.max_sequence_length, device=self.device, dtype=self.dtype)
            finally:
                if on_cpu:
                    encoder.to("cpu")
                    torch.cuda.empty_cache()
        return self._prompts[key]

    def __call__(self, foreground: np.ndarray, matte: np.ndarray, condition: np.ndarray,
                 steps: Optional[int] = None, guidance_scale: Optional[float] = None,
                 scheduler: Optional[str] = None, seed: int = 0, progress=None,
                 window_frames: Optional[int] = None, window_overlap: int = 0, spatial=None,
                 interaction: bool = True, prompt: str = "", **_ignored) -> np.ndarray:
        """(T, H, W, 3) float32 in [0, 1] for the foreground frames (T, H, W, 3), their matte (T, H, W)
        (subject = 1) and the condition image (h, w, 3), all display-referred in [0, 1]. H and W are
        multiples of vae_scale_factor. `scheduler` is ignored: Wan samples with the flow-matching
        scheduler it ships with."""
        import torch

        from actanywhere.engine.camera.condition_warp import is_tracked

        foreground = np.clip(np.asarray(foreground, np.float32), 0.0, 1.0)
        matte = np.clip(np.asarray(matte, np.float32), 0.0, 1.0)
        condition = np.clip(np.asarray(condition, np.float32)[..., :3], 0.0, 1.0)
        frames, height, width = foreground.shape[:3]
        if matte.shape != (frames, height, width) or height % self.vae_scale_factor or width % self.vae_scale_factor:
            raise ModelError("wan-vace: frames %s and matte %s must agree, with height and "
                             "width multiples of %s" % (foreground.shape, matte.shape, self.vae_scale_factor))
        steps, guidance_scale = self.profile.sampling(steps, guidance_scale)
        progress = progress or ignore_progress
        guided = guidance_scale > 1.0
        embeds, negative = self.prompt_embeds(prompt or "", guided)
        reference = self.encode_condition(condition)
        tracked = is_tracked(spatial)
        windows = self.windows(frames, window_frames, window_overlap)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))  # the same noise on every device
        out = np.zeros((frames, height, width, 3), np.float32)
        done = np.zeros(frames, bool)
        clock, total = EtaClock(), steps * len(windows)
        for number, (start, stop) in enumerate(windows):
            length = self.window_length(stop - start, window_frames)
            video, mask = [], []
            for index in range(start, start + length):
                frame = min(index, stop - 1)  # a short window is padded with its last frame
                if done[frame]:  # shared with the window before: its generated pixels, kept
                    video.append(out[frame])
                    mask.append(np.zeros((height, width), np.float32))
                    continue
                alpha = matte[frame][..., None]
                context = spatial.frame(frame, width, height) if tracked else np.full((height, width, 3), NEUTRAL_GREY,
                                                                                         np.float32)
                video.append(foreground[frame] * alpha + context * (1.0 - alpha))
                mask.append(1.0 - matte[frame])
            video_tensor = torch.from_numpy(np.stack(video)).permute(0, 3, 1, 2)  # (F, 3, H, W) in [0, 1]
            mask_tensor = torch.from_numpy(np.stack(mask))[:, None]

            def on_step(pipe, step, timestep, tensors, number=number):
                self.transformer_calls += 1
                done_steps = number * steps + step + 1
                progress(ProgressEvent("sample", done_steps, total, step=step + 1, steps=steps, window=number + 1,
                                       windows=len(windows), eta_s=clock.eta(done_steps, total)))
                return tensors

            with torch.inference_mode():
                result = self.pipe(
                    video=[video_tensor], mask=[mask_tensor], reference_images=[reference],
                    prompt_embeds=embeds, negative_prompt_embeds=negative if guided else None,
                    height=height, width=width, num_frames=length, num_inference_steps=steps,
                    guidance_scale=guidance_scale, generator=generator, output_type="np",
                    callback_on_step_end=on_step, callback_on_step_end_tensor_inputs=["latents"],
                ).frames[0]
            for offset, index in enumerate(range(start, stop)):
                if not done[index]:
                    out[index] = np.clip(result[offset], 0.0, 1.0)
                    done[index] = True
            progress(ProgressEvent("decode", stop, frames, frame=stop - 1, window=number + 1, windows=len(windows)))
        return out
