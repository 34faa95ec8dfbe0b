"""Profile directories on disk: diffusers layout plus `actanywhere.json`.

    <profile>/
      actanywhere.json                              the ModelProfile fields
      weights.sha256                                sha256sum lines of the weight files (provenance)
      unet/config.json, unet/diffusion_pytorch_model.safetensors             UNetMotionModel, 9 channels
      vae/config.json, vae/diffusion_pytorch_model.safetensors               AutoencoderKL
      image_encoder/config.json, image_encoder/model.safetensors             CLIPVisionModelWithProjection
    and, for profiles with conditioning "ip_adapter" (zero-shot SD inpainting):
      ip_adapter.safetensors      the IP-Adapter in h94/IP-Adapter's flat layout; unet/ holds the plain U-Net
      text_embeds.safetensors     "text_embeds": the empty prompt's text-encoder output (1, 77, 768)
    and, for profiles with `detail_pass` (model/detail.py) / `interaction_pass` (model/interaction.py):
      detail/config.json, detail/model.safetensors                         DetailNet
      interaction/config.json, interaction/model.safetensors               InteractionNet

Each sub-folder is what its library's `from_pretrained` reads, so a profile can be inspected with
plain diffusers / transformers. Weights may also be sharded (`*.safetensors.index.json` + shards).
"""
from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model import backbones
from actanywhere.engine.model.architecture import ActAnywhereModel, torch_dtype
from actanywhere.engine.model.profile import CLIP_TOKENS, IP_ADAPTER, PROFILE_FILE, ModelProfile

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIGS_DIR = PACKAGE_DIR / "configs"  # architecture configs of the built-in profiles
WEIGHTS_DIR = PACKAGE_DIR / "weights"  # trained weights shipped with the package (tiny)
CHECKSUM_FILE = "weights.sha256"

# Sub-folder -> (config file, weights file): what each library writes by default.
PARTS = {
    "unet": ("config.json", "diffusion_pytorch_model.safetensors"),
    "vae": ("config.json", "diffusion_pytorch_model.safetensors"),
    "image_encoder": ("config.json", "model.safetensors"),
}
IP_ADAPTER_FILE = "ip_adapter.safetensors"
TEXT_EMBEDS_FILE = "text_embeds.safetensors"
TEXT_EMBEDS_KEY = "text_embeds"
# Files beside the PARTS, by the profile's conditioning mode.
CONDITIONING_FILES = {CLIP_TOKENS: (), IP_ADAPTER: (IP_ADAPTER_FILE, TEXT_EMBEDS_FILE)}
# The profile's optional small networks (model/net_files.py): folder -> the actanywhere.json flag that
# declares it. Each folder holds NET_FILES.
SMALL_NETS = {"detail": "detail_pass", "interaction": "interaction_pass"}
NET_FILES = ("config.json", "model.safetensors")
# Profiles that may run untrained, built from their configs, when no weights are found.
UNTRAINED_ALLOWED = ("tiny",)
UNTRAINED_SEED = 0


class UntrainedModelWarning(UserWarning):
    """The model was built from its configs with random weights: its output is noise-like."""


def expected_files(conditioning: str = CLIP_TOKENS, small_nets: Sequence[str] = ()) -> List[str]:
    """A profile directory's files; `small_nets`: the SMALL_NETS folders its profile declares."""
    files = [PROFILE_FILE]
    for part, (config, weights) in PARTS.items():
        files += ["%s/%s" % (part, config), "%s/%s" % (part, weights)]
    for folder in small_nets:
        files += ["%s/%s" % (folder, name) for name in NET_FILES]
    return files + list(CONDITIONING_FILES.get(conditioning, ()))


def _declared(directory: Path, key: str, default):
    """A field of a directory's actanywhere.json (the default when unreadable)."""
    try:
        return json.loads((directory / PROFILE_FILE).read_text()).get(key, default)
    except (OSError, ValueError, AttributeError):
        return default


def _conditioning_of(directory: Path) -> str:
    """The conditioning mode a directory's actanywhere.json declares."""
    return str(_declared(directory, "conditioning", CLIP_TOKENS))


def declared_small_nets(data: dict) -> List[str]:
    """The SMALL_NETS folders an actanywhere.json mapping declares."""
    return [folder for folder, flag in SMALL_NETS.items() if data.get(flag, False) is True]


def _small_nets_of(directory: Path) -> List[str]:
    return [folder for folder, flag in SMALL_NETS.items() if _declared(directory, flag, False) is True]


def _weight_files(part_dir: Path, weights_name: str) -> List[Path]:
    single = part_dir / weights_name
    if single.is_file():
        return [single]
    index = part_dir / (weights_name + ".index.json")
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError("%s: malformed shard index (%s)" % (index, exc)) from exc
        return [index] + [part_dir / shard for shard in shards]
    return []


def missing_files(directory) -> List[str]:
    """The expected files absent from `directory` (relative paths); empty when complete."""
    if not backbones.is_unet_directory(directory):
        return backbones.backbone(backbones.directory_kind(directory)).missing_files(directory)
    directory = Path(directory)
    missing = [] if (directory / PROFILE_FILE).is_file() else [PROFILE_FILE]
    missing += missing_part_files(directory, PARTS)
    extra = list(CONDITIONING_FILES.get(_conditioning_of(directory), ()))
    for folder in _small_nets_of(directory):
        extra += ["%s/%s" % (folder, name) for name in NET_FILES]
    return missing + [name for name in extra if not (directory / name).is_file()]


def missing_part_files(directory: Path, parts: Dict[str, Tuple[str, str]]) -> List[str]:
    """The config and weight files (possibly sharded) absent from each part folder, {part: (config, weights)};
    every backbone's directory check uses it."""
    missing = []
    for part, (config, weights) in parts.items():
        if not (directory / part / config).is_file():
            missing.append("%s/%s" % (part, config))
        files = _weight_files(directory / part, weights)
        if not files or not all(f.is_file() for f in files):
            missing.append("%s/%s" % (part, weights))
    return missing


def part_checksums(directory: Path, parts: Dict[str, Tuple[str, str]]) -> Dict[str, str]:
    """sha256 of each part folder's weight files (shards and their index included), by relative path."""
    return {path.relative_to(directory).as_posix(): _sha256_file(path)
            for part, (_, weights) in parts.items() for path in _weight_files(directory / part, weights)}


def _missing_error(directory: Path, missing: List[str]) -> ModelError:
    conditioning = _conditioning_of(directory)
    note = "" if conditioning != CLIP_TOKENS else (
        "; profiles conditioned through an IP-Adapter also hold %s" % (', '.join(CONDITIONING_FILES[IP_ADAPTER]),))
    return ModelError(
        "%s: not a complete ActAnywhere profile directory; missing %s. "
        "Expected files: %s "
        "(weights may be sharded with a .index.json)"
        "%s" % (directory, ', '.join(missing), ', '.join(expected_files(conditioning, _small_nets_of(directory))), note)
    )


# -- checksums -----------------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(directory) -> Dict[str, str]:
    """sha256 of every weight file of a profile directory, by relative path."""
    if not backbones.is_unet_directory(directory):
        return backbones.backbone(backbones.directory_kind(directory)).file_checksums(directory)
    directory = Path(directory)
    sums = part_checksums(directory, PARTS)
    for name in list(CONDITIONING_FILES[IP_ADAPTER]) + ["%s/%s" % (folder, NET_FILES[1]) for folder in SMALL_NETS]:
        if (directory / name).is_file():
            sums[name] = _sha256_file(directory / name)
    return sums


def _manifest_text(sums: Dict[str, str]) -> str:
    return "".join("%s  %s\n" % (digest, name) for name, digest in sorted(sums.items()))


def checksum(source: Union[str, Path, ActAnywhereModel]) -> str:
    """One sha256 naming the weights, for provenance headers.

    For a directory: the sha256 of its `weights.sha256` manifest (written at save, recomputed from
    the files when absent). For an in-memory model: its `checksum` when it has one, else a hash of
    its tensors (names, dtypes, shapes, bytes in float32)."""
    if isinstance(source, ActAnywhereModel):
        return source.checksum or state_dict_checksum(source)
    directory = Path(source)
    manifest = directory / CHECKSUM_FILE
    text = manifest.read_text() if manifest.is_file() else _manifest_text(file_checksums(directory))
    return hashlib.sha256(text.encode()).hexdigest()


def verify_checksums(directory) -> None:
    """Recompute the weight files' sha256 and compare with `weights.sha256`; ModelError on mismatch."""
    directory = Path(directory)
    manifest = directory / CHECKSUM_FILE
    if not manifest.is_file():
        raise ModelError("%s: missing; cannot verify the weights" % (manifest,))
    recorded = {}
    for line in manifest.read_text().splitlines():
        if line.strip():
            digest, _, name = line.partition("  ")
            recorded[name] = digest
    actual = file_checksums(directory)
    bad = sorted(name for name in set(recorded) | set(actual) if recorded.get(name) != actual.get(name))
    if bad:
        raise ModelError("%s: weight files differ from %s: %s" % (directory, CHECKSUM_FILE, ', '.join(bad)))


def state_dict_checksum(model: ActAnywhereModel) -> str:
    digest = hashlib.sha256()
    for part, module in model.modules().items():
        for name, tensor in sorted(module.state_dict().items()):
            data = tensor.detach().to("cpu", torch.float32).contiguous()
            digest.update(("%s.%s:%s" % (part, name, tuple(data.shape))).encode())
            digest.update(data.numpy().tobytes())
    if model.text_embeds is not None:
        digest.update(model.text_embeds.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


# -- save / load ---------------------------------------------------------------------------------
def save_pretrained(model: ActAnywhereModel, directory) -> Path:
    from safetensors.torch import save_file

    from actanywhere.engine.model.detail import save_detail_net
    from actanywhere.engine.model.interaction import save_interaction_net
    from actanywhere.engine.model.ip_adapter import flatten, ip_adapter_detached, ip_adapter_state_dict

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with ip_adapter_detached(model.unet):  # diffusers would drop it on load: it goes in its own file
        model.unet.save_pretrained(directory / "unet", safe_serialization=True)
    if model.profile.conditioning == IP_ADAPTER:
        tensors = flatten(ip_adapter_state_dict(model.unet))
        save_file({k: v.to("cpu").contiguous() for k, v in tensors.items()}, str(directory / IP_ADAPTER_FILE))
        save_file({TEXT_EMBEDS_KEY: model.text_embeds.to("cpu", torch.float32).contiguous()},
                  str(directory / TEXT_EMBEDS_FILE))
    model.vae.save_pretrained(directory / "vae", safe_serialization=True)
    model.image_encoder.save_pretrained(directory / "image_encoder", safe_serialization=True)
    if model.detail is not None:
        save_detail_net(model.detail, directory / "detail")
    if model.interaction is not None:
        save_interaction_net(model.interaction, directory / "interaction")
    model.profile.save(directory)
    (directory / CHECKSUM_FILE).write_text(_manifest_text(file_checksums(directory)))
    model.checksum = checksum(directory)
    return directory


def _resolve_dtype(profile: ModelProfile, device: torch.device, dtype) -> torch.dtype:
    return torch_dtype(dtype if dtype is not None else profile.dtype_name(device.type))


def load_pretrained(directory, device="cpu", dtype=None) -> ActAnywhereModel:
    """Load a profile directory. Missing or malformed -> ModelError listing the files expected."""
    from diffusers import AutoencoderKL, UNetMotionModel
    from transformers import CLIPVisionModelWithProjection

    from actanywhere.engine.model.detail import load_detail_net
    from actanywhere.engine.model.interaction import load_interaction_net

    directory = Path(directory)
    if not directory.is_dir():
        raise _missing_error(directory, expected_files())
    missing = missing_files(directory)
    if missing:
        raise _missing_error(directory, missing)
    profile = ModelProfile.load(directory)
    device = torch.device(device)
    dtype = _resolve_dtype(profile, device, dtype)

    def load(part, loader, **kwargs):
        try:
            return loader(directory / part, **kwargs)
        except Exception as exc:  # the libraries raise OSError, ValueError, RuntimeError, SafetensorError...
            config, weights = PARTS[part]
            raise ModelError(
                "%s: cannot load the %s (%s: %s). "
                "Expected %s/%s and %s/%s as written by save_pretrained"
                % (directory / part, part, type(exc).__name__, exc, part, config, part, weights)
            ) from exc

    unet = load("unet", UNetMotionModel.from_pretrained, torch_dtype=dtype)
    vae = load("vae", AutoencoderKL.from_pretrained, torch_dtype=dtype)
    image_encoder = load("image_encoder", CLIPVisionModelWithProjection.from_pretrained, dtype=dtype)
    text_embeds = None
    if profile.conditioning == IP_ADAPTER:
        text_embeds = _load_ip_adapter_files(directory, unet, profile)
    detail = load_detail_net(directory / "detail") if profile.detail_pass else None
    interaction = load_interaction_net(directory / "interaction") if profile.interaction_pass else None
    model = ActAnywhereModel(profile, unet, vae, image_encoder, checksum=checksum(directory), trained=True,
                             text_embeds=text_embeds, detail=detail, interaction=interaction)
    model.eval()
    return model.to(device=device, dtype=dtype)


def _load_ip_adapter_files(directory: Path, unet, profile: ModelProfile) -> torch.Tensor:
    """Attach the directory's IP-Adapter to `unet`; return the empty prompt's text embedding."""
    from safetensors.torch import load_file

    from actanywhere.engine.model.ip_adapter import attach_ip_adapter, read_ip_adapter_file

    try:
        text_embeds = load_file(str(directory / TEXT_EMBEDS_FILE))[TEXT_EMBEDS_KEY].float()
    except Exception as exc:
        raise ModelError("%s: cannot read the '%s' tensor "
                         "(%s: %s); it is written by save_pretrained"
                         % (directory / TEXT_EMBEDS_FILE, TEXT_EMBEDS_KEY, type(exc).__name__, exc)) from exc
    state_dict = read_ip_adapter_file(directory / IP_ADAPTER_FILE)
    state_dict = {group: {k: v.to(unet.dtype) for k, v in tensors.items()} for group, tensors in state_dict.items()}
    attach_ip_adapter(unet, state_dict, profile.ip_adapter_scale)
    return text_embeds


def builtin_configs(name: str) -> Optional[Path]:
    folder = CONFIGS_DIR / name
    return folder if (folder / "unet.json").is_file() else None


def build_from_configs(folder, seed: int = UNTRAINED_SEED) -> ActAnywhereModel:
    """An untrained model from a configs folder: unet.json, vae.json, image_encoder.json, actanywhere.json
    (and detail.json / interaction.json for profiles with `detail_pass` / `interaction_pass`)."""
    folder = Path(folder)
    names = ["unet.json", "vae.json", "image_encoder.json", PROFILE_FILE]
    names += ["%s.json" % (net,) for net in _small_nets_of(folder)]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise ModelError("%s: missing %s; a configs folder holds %s" % (folder, ', '.join(missing), ', '.join(names)))

    def read(name):
        try:
            return json.loads((folder / name).read_text())
        except ValueError as exc:
            raise ModelError("%s: not valid JSON (%s)" % (folder / name, exc)) from exc

    profile = ModelProfile.load(folder / PROFILE_FILE)
    model = ActAnywhereModel.from_configs(
        profile, read("unet.json"), read("vae.json"), read("image_encoder.json"), seed=seed,
        detail_config=read("detail.json") if profile.detail_pass else None,
        interaction_config=read("interaction.json") if profile.interaction_pass else None,
    )
    model.checksum = state_dict_checksum(model)
    return model


def load_profile(name: str = "tiny", path=None, device="cpu", dtype=None) -> ActAnywhereModel:
    """The model of a profile, ready for inference.

    `path` (a profile directory) wins; otherwise the package's weights/<name>/. When neither exists
    and the profile may run untrained (tiny), it is built from its configs with a fixed seed and an
    UntrainedModelWarning says so."""
    if path is not None:
        model = load_pretrained(path, device=device, dtype=dtype)
        if model.profile.name != name:
            logger.info("profile directory %s holds profile '%s' (asked for '%s')", path, model.profile.name, name)
        return model
    shipped = WEIGHTS_DIR / name
    if (shipped / PROFILE_FILE).is_file():
        return load_pretrained(shipped, device=device, dtype=dtype)
    configs = builtin_configs(name)
    if name in UNTRAINED_ALLOWED and configs is not None:
        message = (
            "model profile '%s' has no trained weights (looked in %s); using an UNTRAINED model "
            "built from %s with seed %s: its output shows the pipeline works, not the method"
            % (name, shipped, configs, UNTRAINED_SEED)
        )
        warnings.warn(message, UntrainedModelWarning, stacklevel=2)
        logger.info(message)
        model = build_from_configs(configs)
        device = torch.device(device)
        return model.to(device=device, dtype=_resolve_dtype(model.profile, device, dtype))
    raise ModelError(
        "no weights for model profile '%s': pass the path of a profile directory holding "
        "%s (or install them under %s)" % (name, ', '.join(_builtin_expected_files(name)), shipped)
    )


def _builtin_expected_files(name: str) -> List[str]:
    """The files of a built-in profile's directory, by the fields of its configs/*/actanywhere.json."""
    for path in sorted(CONFIGS_DIR.glob("*/%s" % (PROFILE_FILE,))):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("name") == name:
            return expected_files(data.get("conditioning", CLIP_TOKENS), declared_small_nets(data))
    return expected_files()
