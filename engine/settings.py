"""The settings a TD configures and a shot spec carries: typed sections with their rules.

Each section is a plain dataclass validated by `schema`. The config file (config.py) holds all of them;
a shot spec (shotspec.py) carries sampler, tiling, colour and output, so a job reproduces the same
result on any engine whatever that engine's own config says. Pure Python (Nuke imports this).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional

from .outputs import template_problem
from .schema import setting

SCHEDULERS = ("ddim", "dpmsolver++")
MODEL_KINDS = ("tiny", "actanywhere-sd15", "zeroshot-sd15-inpaint", "wan-vace")  # model/backbones/KINDS
EXR_COMPRESSIONS = ("zip", "zips", "piz", "none", "rle", "dwaa", "dwab")
LOSSY_COMPRESSIONS = ("dwaa", "dwab")
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(device: str) -> Optional[str]:
    return None if _DEVICE_PATTERN.match(device) else "%r is not one of auto, cpu, cuda, cuda:N" % device


@dataclass
class ModelProfileSettings:
    kind: str = setting("tiny", choices=MODEL_KINDS, help="architecture family of the weights")
    path: Optional[str] = setting(
        None, is_path=True, help="weights directory; empty for the tiny model shipped in the package"
    )


def _default_profiles() -> Dict[str, ModelProfileSettings]:
    return {"tiny": ModelProfileSettings()}


@dataclass
class ModelSettings:
    default_profile: str = setting("tiny", help="profile used when a shot names none")
    profiles: Dict[str, ModelProfileSettings] = setting(default_factory=_default_profiles)
    device: str = setting("auto", check=check_device, help="auto, cpu, cuda or cuda:N")
    cuda_dtype: str = setting("float16", choices=("float16", "bfloat16"), help="precision on CUDA; CPU is float32")

    def __post_init__(self):
        if self.default_profile not in self.profiles:
            raise ValueError(
                "default_profile %r names no profile; profiles: %s"
                % (self.default_profile, ", ".join(sorted(self.profiles)))
            )


@dataclass
class SamplerSettings:
    scheduler: str = setting("ddim", choices=SCHEDULERS, help="diffusion sampler")
    steps: int = setting(0, minimum=0, maximum=1000, help="denoising steps; 0: the model profile's default")
    guidance: float = setting(
        0.0, minimum=0.0, maximum=50.0,
        help="classifier-free guidance scale; 0: the model profile's default; 1 disables the unconditional pass",
    )
    seed: int = setting(0, minimum=0, maximum=2**32 - 1, help="random seed of the first variant")
    variants: int = setting(1, minimum=1, maximum=64, help="variants, seeds seed..seed+variants-1")
    prompt: str = setting("", help="text describing the scene, for profiles that read one (wan-vace); empty: none")


def _check_tile_size(size: int) -> Optional[str]:
    return None if size == 0 or size >= 64 else "%d is too small: 0 (the profile's default) or at least 64" % size


CAMERA_TRACK_MODES = ("auto", "static")


@dataclass
class CameraSettings:
    """How the plate's camera reaches the model (docs/camera.md): tracked from the plate's background and
    used to warp the condition image into every frame, or assumed locked off."""

    track: str = setting("auto", choices=CAMERA_TRACK_MODES,
                         help="auto: track the plate's background (cached); static: a locked-off camera")
    matte_dilate: float = setting(0.03, minimum=0.0, maximum=0.25,
                                  help="the matte grown by this fraction of the frame diagonal before tracking")
    shadow_hint: bool = setting(True, help="profiles with an interaction pass read the subject's real shadow off "
                                           "the plate (camera/shadow_hint.py); false: the pass draws it from the "
                                           "subject and the scene alone (a plate whose shadows do not belong)")


@dataclass
class TilingSettings:
    tile_size: int = setting(
        0, minimum=0, check=_check_tile_size,
        help="refinement tile edge in plate pixels; 0: the model profile's default (tiny 256, SD 1.5 profiles 512)",
    )
    tile_overlap: float = setting(0.25, minimum=0.0, maximum=0.75, help="tile overlap as a fraction of the tile")
    window_frames: int = setting(
        0, minimum=0, maximum=257,
        help="frames per temporal window; 0: the model profile's native frames (16 for the U-Net profiles, 81 for wan-vace)")
    window_overlap: int = setting(4, minimum=0, help="frames shared by neighbouring windows")
    refine_strength: float = setting(0.4, minimum=0.0, maximum=1.0, help="re-noise strength of the tiled refinement")
    tile_batch: int = setting(1, minimum=1, help="tiles per U-Net call")

    def __post_init__(self):
        if self.window_frames and self.window_overlap >= self.window_frames:
            raise ValueError(
                "window_overlap (%d) must be smaller than window_frames (%d)" % (self.window_overlap, self.window_frames)
            )


@dataclass
class ColourSettings:
    ocio_config: Optional[str] = setting(
        None, is_path=True, help="OCIO config path or URI; empty: $OCIO, else OpenImageIO's ocio://default"
    )
    plate_colourspace: str = setting(
        "auto", help="colour space (or role) of the plate; 'auto': the file's own tag, else scene_linear for float "
                     "files and the model's display space for 8/16-bit ones"
    )
    model_colourspace: str = setting(
        "sRGB Encoded Rec.709 (sRGB)", help="display-referred space the model was trained in"
    )
    condition_colourspace: str = setting(
        "auto", help="space of the condition image; 'auto': float files as the plate, 8/16-bit files as the model"
    )


@dataclass
class OutputSettings:
    template: str = setting(
        "actanywhere_out/{shot}/{version}/{shot}_{pass}_{version}.####.exr",
        is_path=True,
        check=template_problem,
        help="frame-sequence path: a {version} folder, then {pass} (bg or comp) and a frame token; may use {shot} and {seed}",
    )
    compression: str = setting("zip", choices=EXR_COMPRESSIONS, help="EXR compression (dwaa/dwab are lossy)")
    datatype: str = setting("half", choices=("half", "float"), help="EXR pixel type")
    write_comp: bool = setting(True, help="also write the original subject merged over the generated plate")
    comp_feather: float = setting(0.0, minimum=0.0, maximum=64.0, help="matte feather in pixels for the comp")
    fps: Optional[float] = setting(None, minimum=1.0, help="frame rate for the .otio; empty: plate metadata, else 24")


@dataclass
class EngineSettings:
    endpoint: str = setting("tcp://127.0.0.1:5570", help="address clients connect to")
    bind: str = setting("tcp://127.0.0.1:5570", help="address the engine binds")
    devices: List[str] = setting(default_factory=lambda: ["auto"], check=check_device, help="one worker per device")
    request_timeout_s: float = setting(10.0, minimum=0.1, help="client wait for each reply")
    retries: int = setting(3, minimum=0, help="client retries before giving up")
    heartbeat_s: float = setting(2.0, minimum=0.1, help="heartbeat interval")
    sandbox_roots: List[str] = setting(
        default_factory=list, is_path=True, help="the only directories the engine reads and writes"
    )
    server_secret_key: Optional[str] = setting(None, is_path=True, help="CurveZMQ secret key file of the engine")
    client_keys_dir: Optional[str] = setting(None, is_path=True, help="directory of allowed client public keys")
    server_public_key: Optional[str] = setting(None, is_path=True, help="client side: the engine's CurveZMQ public key file")
    client_secret_key: Optional[str] = setting(None, is_path=True, help="client side: this client's CurveZMQ secret key file")
    allow_insecure_remote: bool = setting(False, help="bind beyond loopback without CurveZMQ keys")
    journal_dir: Optional[str] = setting(None, is_path=True, help="job journal directory")
    admin_clients: List[str] = setting(
        default_factory=list, help="clients that may see and cancel every job: key names (NAME of NAME.key) with "
                                   "CurveZMQ, else OS user names; the engine's own OS user always may")
    worker_timeout_s: float = setting(60.0, minimum=1.0, help="a worker silent this long is taken as hung and killed")
    job_time_limit_s: float = setting(0.0, minimum=0.0, help="a job running longer is stopped and failed; 0: no limit")
    max_queued_per_client: int = setting(1000, minimum=1, help="queued jobs one client may hold")
    history_max_jobs: int = setting(10000, minimum=1, help="finished jobs kept on record; older ones are pruned")
    history_max_days: float = setting(30.0, minimum=0.0, help="days a finished job stays on record")
