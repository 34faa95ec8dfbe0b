"""Running one shot spec: validate every input, read the plate and matte, sample each variant, and
write the generated plate (and the comp of the original subject over it) as a new EXR version with
its .otio.

Sampling (docs/tiling.md): a global pass over the whole shot at the model's native pixel count with
the plate's picture aspect, in blended temporal windows; then, when the plate is larger than that, a
tiled refinement at plate size (pixel aspect unsqueezed) re-noised from the upscaled global result.
Plates stream through at full resolution frame by frame; the refinement's latent-size state lives in
scratch files, so memory holds the working-size shot, a few plate frames and one window x tile.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from . import __version__
from .camera.condition_warp import SpatialCondition, shown_subject
from .camera.shot_camera import ShotCamera
from .comp import merge_subject
from .config import Config
from .errors import MediaError
from .generation_plan import GenerationPlan, ShotColour
from .media.image_read import ImageInfo, check_readable, chromaticities_space, matte_location, read_image, read_image_info, rgb
from .media.resize import resize_image
from .media.window import Window
from .media.sequence_read import check_sequence, read_sequence
from .media.versioning import VersionedOutput
from .outputs import OutputError, OutputTemplate, PublishedVersion, published_by
from .progress import ProgressCallback, ProgressEvent, ignore_progress
from .sequence import FrameRange, FrameSequence
from .shotspec import ShotSpec

DEFAULT_FPS = 24.0
# Formats whose pixels are display-referred integers; float files are taken as scene-linear like the plate.
_INTEGER_PIXEL_TYPES = ("uint8", "uint16", "int8", "int16", "uint10", "uint12")


@dataclass
class ShotInputs:
    """What validation learned about a shot's files before any model work."""

    frames: FrameRange
    plate_info: ImageInfo  # the picture the engine works on: width and height are the plate's work window
    plate_colourspace: str
    condition_path: str
    condition_colourspace: str
    colour: ShotColour  # the three transforms, built once (an unknown colour space fails here)
    # The plate's geometry, kept in the outputs: its work window (display window and overscan together,
    # in display-window coordinates) and its first frame's header (display window, origin, fps).
    region: Optional[Window] = None
    geometry: Optional[ImageInfo] = None
    timecodes: Dict[int, Tuple[int, int]] = field(default_factory=dict)  # frame -> the plate's time code


def generate_shot(
    spec: ShotSpec,
    config: Config,
    progress: ProgressCallback = ignore_progress,
    log: Callable[[str], None] = print,
    pipeline=None,
    job_id: str = "",
    task_id: str = "",
) -> List[PublishedVersion]:
    """Run every variant of `spec`; returns one published version per seed. `pipeline` lets a
    long-lived engine pass the model it keeps loaded; otherwise the spec's profile is loaded from the
    config. With a `job_id` (the engine's) or a `task_id` (the farm's), a seed that job or task already
    published is not run again: its version is returned (outputs.py: exactly once per job)."""
    key = task_id or job_id
    template = OutputTemplate.parse(spec.output.template)
    already = {seed: published_by(template, spec.shot, key, seed) for seed in spec.seeds}
    if key and all(already.values()):
        for record in already.values():
            log("%s: seed %d already published by %s as %s; not run again" % (spec.shot, record.seed, key, record.version_name))
        return [already[seed] for seed in spec.seeds]
    inputs = check_inputs(spec)
    if pipeline is None:
        pipeline = load_pipeline(spec.model, config, log)
    from .model.interaction import GainedFrames

    plan = GenerationPlan.build(spec, inputs, pipeline, log)
    refine_size = plan.refine_size
    log("%s: %d frames %s, plate %dx%d, sampling at %dx%d%s with profile %s (%d steps, guidance %g)"
        % (spec.shot, len(inputs.frames), inputs.frames, inputs.plate_info.width, inputs.plate_info.height,
           plan.working_size[0], plan.working_size[1], ", refining at %dx%d" % refine_size if refine_size else "",
           spec.model, plan.steps, plan.guidance))
    with tempfile.TemporaryDirectory(prefix="actanywhere_scratch_") as scratch:
        refiner = None
        if refine_size:
            refiner = pipeline.plate_refiner(len(inputs.frames), refine_size[0], refine_size[1], plan.tiling, scratch)
        camera = ShotCamera(spec, list(inputs.frames), inputs.plate_info.width, inputs.plate_info.height,
                            progress, log)
        # The interaction pass reads the plate at its own work size (128 rows), from the full-size frames.
        pass_frames = None
        if pipeline.model.interaction is not None:
            pass_frames = PassFrames(len(inputs.frames), *interaction_work_size(inputs.plate_info))
        foreground, matte = read_working_frames(spec, inputs, plan.working_size, progress, refiner, camera, pass_frames)
        track = camera.finish()
        condition = read_condition(spec, inputs, log)
        subject = condition_subject(camera, inputs, foreground, matte, condition)
        spatial = SpatialCondition(condition, len(inputs.frames), track, subject=subject)
        gains = None
        if pass_frames is not None:
            hint = plate_shadow_hint(spec, pass_frames, track)
            progress(ProgressEvent("interaction", 0, len(inputs.frames), message="shadow hint read off the plate"
                                   if hint is not None else "no shadow hint (camera.shadow_hint: false)"))
            # It does not depend on the seed: once for every variant.
            gains = pipeline.interaction_gains(pass_frames.plate, pass_frames.matte, condition, spatial, hint, progress)
        results = []
        for seed in spec.seeds:
            if already[seed] is not None:
                log("%s: seed %d already published by %s as %s; not run again"
                    % (spec.shot, seed, key, already[seed].version_name))
                results.append(already[seed])
                continue
            generated = pipeline(
                foreground, matte, condition,
                steps=plan.steps, guidance_scale=plan.guidance,
                scheduler=plan.scheduler, seed=seed, progress=progress,
                window_frames=plan.tiling.window_frames, window_overlap=plan.tiling.window_overlap, spatial=spatial,
                interaction=False, prompt=plan.prompt,
            )
            if refiner is not None:
                generated = refine(pipeline, refiner, generated, condition, plan, seed, progress, spatial)
            if gains is not None:
                # The shadow and contact go onto the final plate: drawn before the refinement, they
                # would be re-noised and drawn again.
                generated = GainedFrames(generated, gains)
            attributes = provenance(spec, inputs, seed, pipeline, plan, refiner, track)
            identity = {"job_id": job_id, "task_id": task_id, "spec_hash": spec.spec_hash(), "model": spec.model,
                        "model_checksum": attributes["actanywhere/model_checksum"]}
            try:
                results.append(write_version(spec, inputs, generated, seed, attributes, progress, identity, log))
            except OutputError as error:
                if error.code != "already_published":
                    raise
                # Another run of this job published the seed while this one sampled: theirs stands.
                log(str(error))
                results.append(published_by(template, spec.shot, key, seed))
        if refiner is not None:
            refiner.close()
    return results


@dataclass
class PassFrames:
    """The plate and its matte at the interaction pass's work size (model/interaction.py), display-referred."""

    frames: int
    width: int
    height: int

    def __post_init__(self):
        self.plate = np.empty((self.frames, self.height, self.width, 3), np.float32)
        self.matte = np.empty((self.frames, self.height, self.width), np.float32)


def condition_subject(camera: ShotCamera, inputs: ShotInputs, plate: np.ndarray, matte: np.ndarray,
                      condition: np.ndarray) -> Optional[np.ndarray]:
    """The matte at the frame the condition image matches when the condition shows the plate's subject
    there (a composite; condition_warp.py `condition_shows_subject`): the plate must not keep those
    pixels. None for a background-only condition, or when that frame is not in the shot."""
    frames = list(inputs.frames)
    if camera.reference not in frames:
        return None
    index = frames.index(camera.reference)
    return shown_subject(condition, plate[index], matte[index])


def interaction_work_size(plate: ImageInfo) -> Tuple[int, int]:
    """The interaction pass's work size for a plate: its picture aspect (pixel aspect applied), 128 rows."""
    from .model.interaction import work_size

    return work_size(int(round(plate.width * plate.pixel_aspect)), plate.height)


def plate_shadow_hint(spec: ShotSpec, frames: PassFrames, track) -> Optional[np.ndarray]:
    """The plate's shadow hint at the pass's work size (camera/shadow_hint.py); None with
    `camera.shadow_hint: false`."""
    if not spec.camera.shadow_hint:
        return None
    from .camera.shadow_hint import shadow_hint

    return shadow_hint(frames.plate, frames.matte, track)


def refine(pipeline, refiner, generated: np.ndarray, condition: np.ndarray, plan: GenerationPlan, seed: int,
           progress: ProgressCallback, spatial=None):
    """The tiled refinement of one variant: the global result upscaled, re-noised, denoised in tiles.
    Returns the refined frames, decoded one at a time as the writer asks for them."""
    for index, frame in enumerate(generated):
        upscaled = np.clip(resize_image(frame, refiner.width, refiner.height), 0.0, 1.0)
        refiner.add_init(index, upscaled)
        progress(ProgressEvent("encode", index + 1, len(generated), frame=index, message="global result"))
    refiner.run(generated, pipeline.encode_condition(condition), plan.steps, plan.guidance,
                plan.scheduler, seed, progress, condition=condition, spatial=spatial, prompt=plan.prompt)
    return refiner.frames_out(progress)


def track_shot(spec: ShotSpec, progress: ProgressCallback = ignore_progress, log: Callable[[str], None] = print,
               use_cache: bool = True):
    """The shot's camera track alone (`actanywhere track`): validated inputs, the plate read once.
    Returns (track, the plate's ImageInfo)."""
    inputs = check_inputs(spec)
    camera = ShotCamera(spec, list(inputs.frames), inputs.plate_info.width, inputs.plate_info.height,
                        progress, log, use_cache=use_cache)
    if camera.needs_frames:
        to_model = inputs.colour.plate_to_model
        frames = list(inputs.frames)
        plates = read_sequence(spec.plate_sequence, frames, region=inputs.region)
        mattes = read_sequence(spec.matte_sequence, frames, matte_channel=spec.matte_channel, region=inputs.region)
        for (frame, plate, _), (_, matte, _) in zip(plates, mattes):
            camera.add(frame, to_model.apply(rgb(plate)), matte)
    return camera.finish(), inputs.plate_info


# -- validation -------------------------------------------------------------------------------------
def check_inputs(spec: ShotSpec) -> ShotInputs:
    """Check every file the shot needs (existence, readable headers, sizes, colour spaces) before
    any pixel or model work, so a bad shot fails in seconds with a message naming the file."""
    frames = spec.frame_range()
    plate_infos = check_sequence(spec.plate_sequence, frames)
    matte_infos = check_sequence(spec.matte_sequence, frames)
    plate_info = plate_infos[0]
    for plate_frame, matte_frame in zip(plate_infos, matte_infos):
        if (plate_frame.width, plate_frame.height) != (matte_frame.width, matte_frame.height):
            raise MediaError(
                "%s is %dx%d but its plate %s is %dx%d: render the matte in the plate's format"
                % (matte_frame.path, matte_frame.width, matte_frame.height,
                   plate_frame.path, plate_frame.width, plate_frame.height)
            )
    # The matte's channel is looked up in its header now, not after the model has loaded.
    matte_location(matte_infos[0], spec.matte_channel)
    condition_path = _condition_path(spec)
    condition_info = read_image_info(condition_path)
    check_readable(condition_info)
    plate_colourspace = spec.colour.plate_colourspace
    if plate_colourspace == "auto":
        # An 8/16-bit file is display-referred unless it says otherwise (a PNG is tagged sRGB).
        integer = plate_info.pixel_type in _INTEGER_PIXEL_TYPES
        plate_colourspace = (plate_info.colourspace or chromaticities_space(plate_info)
                             or (spec.colour.model_colourspace if integer else "scene_linear"))
    condition_colourspace = spec.colour.condition_colourspace
    if condition_colourspace == "auto":
        integer = condition_info.pixel_type in _INTEGER_PIXEL_TYPES
        condition_colourspace = spec.colour.model_colourspace if integer else plate_colourspace
    # Building the transforms checks that every named colour space exists in the OCIO config.
    colour = ShotColour.between(spec.colour, plate_colourspace, condition_colourspace)
    _check_output_directory(spec)
    region = _union([info.work_window for info in plate_infos])
    return ShotInputs(
        frames=frames,
        plate_info=replace(plate_info, width=region.width, height=region.height,
                           data_window=Window(0, 0, region.width, region.height)),
        plate_colourspace=plate_colourspace,
        condition_path=condition_path,
        condition_colourspace=condition_colourspace,
        colour=colour,
        region=region,
        geometry=plate_info,
        timecodes={frame: info.timecode for frame, info in zip(frames, plate_infos) if info.timecode},
    )


def _union(windows: List[Window]) -> Window:
    x0, y0 = min(w.x for w in windows), min(w.y for w in windows)
    x1, y1 = max(w.x + w.width for w in windows), max(w.y + w.height for w in windows)
    return Window(x0, y0, x1 - x0, y1 - y0)


def _condition_path(spec: ShotSpec) -> str:
    sequence = FrameSequence.parse(spec.condition)
    if sequence.has_frame_token and spec.condition_frame is None:
        raise MediaError("condition %s is a sequence: set condition_frame to the frame to use" % spec.condition)
    path = sequence.path(spec.condition_frame if spec.condition_frame is not None else 0)
    if not os.path.isfile(path):
        raise MediaError("condition image %s does not exist: check the path" % path)
    return path


def _check_output_directory(spec: ShotSpec) -> None:
    """The deepest existing parent of the output template must be writable."""
    directory = OutputTemplate.parse(spec.output.template).static_root()
    while directory and not os.path.isdir(directory):
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    if not os.access(directory or ".", os.W_OK):
        raise MediaError(
            "output directory %s is not writable: fix its permissions or change output.template" % directory
        )


# -- reading ----------------------------------------------------------------------------------------
def read_working_frames(spec: ShotSpec, inputs: ShotInputs, size: Tuple[int, int], progress: ProgressCallback,
                        refiner=None, camera: Optional[ShotCamera] = None, pass_frames: Optional[PassFrames] = None):
    """The model's inputs at working `size` (width, height): display-referred foreground frames
    (T, H, W, 3) and the matte (T, H, W), streamed from the full-resolution files. With a `refiner`,
    each frame at refinement size also goes to it (encoded there, frame by frame); with a `camera` that
    must be tracked, each frame goes to its tracker (one read of the plate for both); with `pass_frames`,
    each frame is kept at the interaction pass's size too."""
    width, height = size
    to_model = inputs.colour.plate_to_model
    frames = list(inputs.frames)
    foreground = np.empty((len(frames), height, width, 3), np.float32)
    matte = np.empty((len(frames), height, width), np.float32)
    plates = read_sequence(spec.plate_sequence, frames, progress=progress, region=inputs.region)
    mattes = read_sequence(spec.matte_sequence, frames, matte_channel=spec.matte_channel, region=inputs.region)
    for index, ((frame, plate, _), (_, matte_frame, _)) in enumerate(zip(plates, mattes)):
        model_plate = to_model.apply(rgb(plate))
        foreground[index] = np.clip(resize_image(model_plate, width, height), 0.0, 1.0)
        matte[index] = np.clip(resize_image(matte_frame, width, height, "box"), 0.0, 1.0)
        if camera is not None and camera.needs_frames:
            camera.add(frame, model_plate, matte_frame)
        if pass_frames is not None:
            pass_frames.plate[index] = np.clip(resize_image(model_plate, pass_frames.width, pass_frames.height), 0, 1)
            pass_frames.matte[index] = np.clip(resize_image(matte_frame, pass_frames.width, pass_frames.height, "box"), 0, 1)
        if refiner is not None:
            refiner.add_input(index, np.clip(resize_image(model_plate, refiner.width, refiner.height), 0.0, 1.0),
                              np.clip(resize_image(matte_frame, refiner.width, refiner.height, "box"), 0.0, 1.0))
    _check_matte_coverage(spec, matte)
    return foreground, matte


def _check_matte_coverage(spec: ShotSpec, matte: np.ndarray) -> None:
    coverage = float(matte.mean())
    if coverage >= 0.999:
        raise MediaError(
            "matte %s covers the whole frame in every frame: there is no background to generate; "
            "check the matte channel (%s) or invert the roto" % (spec.matte, spec.matte_channel)
        )
    if coverage <= 0.0001:
        warnings.warn(
            "matte %s is empty (no subject) in frames %s: generating a background with no subject"
            % (spec.matte, spec.frames or "all"),
            stacklevel=3,
        )


def read_condition(spec: ShotSpec, inputs: ShotInputs, log: Callable[[str], None]) -> np.ndarray:
    """The condition image in the model's space. Another aspect than the plate's is allowed with a
    warning: the image encoder sees the centre square of any condition image."""
    pixels, info = read_image(inputs.condition_path)
    plate = inputs.plate_info
    condition_aspect = info.width * info.pixel_aspect / info.height
    plate_aspect = plate.width * plate.pixel_aspect / plate.height
    if abs(condition_aspect / plate_aspect - 1.0) > 0.02:
        log("warning: condition image %s has aspect %.2f, the plate %.2f: the model sees its centre square; "
            "crop it to the plate's framing for control over what it sees"
            % (inputs.condition_path, condition_aspect, plate_aspect))
    return np.clip(inputs.colour.condition_to_model.apply(rgb(pixels)), 0.0, 1.0)


# -- writing ----------------------------------------------------------------------------------------
def write_version(spec, inputs, generated, seed, attributes, progress, identity: Dict[str, str],
                  log: Callable[[str], None] = print) -> PublishedVersion:
    """Write one variant as a new version: the generated plate (bg) and, when configured, the original
    subject merged back over it (comp), both in the plate's colour space at plate size. `identity`
    (job id, task id, spec hash, model, its checksum) goes into the version's record."""
    info = inputs.plate_info
    to_plate = inputs.colour.model_to_plate
    passes = ("bg", "comp") if spec.output.write_comp else ("bg",)
    frames = list(inputs.frames)
    fps = spec.output.fps or info.fps or DEFAULT_FPS
    with VersionedOutput(
        spec.output.template, shot=spec.shot, passes=passes, seed=seed, frames=frames, fps=fps,
        otio_metadata={"spec_hash": identity["spec_hash"], "model": spec.model}, record=identity, log=log,
    ) as output:
        plates = read_sequence(spec.plate_sequence, frames, region=inputs.region)
        mattes = read_sequence(spec.matte_sequence, frames, matte_channel=spec.matte_channel, region=inputs.region)
        for index, ((frame, plate, _), (_, matte, _)) in enumerate(zip(plates, mattes)):
            background = to_plate.apply(resize_image(generated[index], info.width, info.height))
            layers = {"bg": background}
            if "comp" in passes:
                layers["comp"] = merge_subject(rgb(plate), matte, background, spec.output.comp_feather)
            for pass_name, pixels in layers.items():
                output.write_frame(
                    pass_name, frame, pixels, ("R", "G", "B"),
                    attributes=dict(attributes, **{"actanywhere/pass": pass_name}),
                    compression=spec.output.compression, datatype=spec.output.datatype,
                    colourspace=inputs.plate_colourspace, pixel_aspect=info.pixel_aspect,
                    **plate_geometry(inputs, frame, fps),
                )
            progress(ProgressEvent("write", index + 1, len(frames), frame=frame))
    return output.record


def plate_geometry(inputs: ShotInputs, frame: int, fps: float) -> Dict[str, object]:
    """write_exr's keywords that give an output frame the plate's geometry: its data window (the work
    window, overscan included), display window and origin, frame rate and time code."""
    geometry = inputs.geometry or inputs.plate_info
    region = inputs.region or Window(0, 0, geometry.width, geometry.height)
    ox, oy = geometry.display_origin
    return {"origin": (ox + region.x, oy + region.y), "display_window": Window(ox, oy, geometry.width, geometry.height),
            "fps": fps, "timecode": inputs.timecodes.get(frame)}


def provenance(spec: ShotSpec, inputs: ShotInputs, seed: int, pipeline, plan: GenerationPlan,
               refiner=None, track=None) -> Dict[str, str]:
    """What made these pixels, for the EXR header: enough to reproduce or audit a frame."""
    data = spec.to_data()
    # The numbers used, not 0 for "the profile's default".
    sampler = dict(data["sampler"], seed=seed, steps=plan.steps, guidance=plan.guidance)
    tiling = {"settings": data["tiling"], "plan": plan.tiling.to_dict()}
    if refiner is not None:
        tiling.update(refine_size="%dx%d" % (refiner.width, refiner.height),
                      latent_size="%dx%d" % (refiner.latent_width, refiner.latent_height),
                      windows=refiner.grid.window_count, tiles=refiner.grid.tile_count)
    else:
        tiling["refine_size"] = None
    attributes = {} if track is None else {"actanywhere/camera_track": json.dumps(
        dict(track.summary(), method=track.method, plate_hash=track.plate_hash), sort_keys=True)}
    if getattr(pipeline.model, "interaction", None) is not None:
        attributes["actanywhere/interaction"] = json.dumps({
            "pass": True, "shadow_hint": bool(spec.camera.shadow_hint),
            "keep_condition": bool(getattr(pipeline.profile, "keep_condition", False))}, sort_keys=True)
    return dict(attributes, **{
        "actanywhere/tiling": json.dumps(tiling, sort_keys=True),
        "actanywhere/engine_version": __version__,
        "actanywhere/model_profile": spec.model,
        "actanywhere/model_checksum": getattr(pipeline.model, "checksum", "") or "",
        "actanywhere/seed": str(seed),
        "actanywhere/sampler": json.dumps(sampler, sort_keys=True),
        "actanywhere/plate": spec.plate,
        "actanywhere/matte": "%s (channel %s)" % (spec.matte, spec.matte_channel),
        "actanywhere/condition": inputs.condition_path,
        "actanywhere/frames": str(inputs.frames),
        "actanywhere/spec_hash": spec.spec_hash(),
        "actanywhere/colour_transform": plan.colour.model_to_plate.description,
        "actanywhere/working_size": "%dx%d" % plan.working_size,
    })


# -- the model --------------------------------------------------------------------------------------
_PIPELINES: Dict[Tuple[str, Optional[str], str, str], object] = {}


def _profile_path(name: str, config: Config) -> Optional[str]:
    return config.models.profiles[name].path


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_pipeline(name: str, config: Config, log: Callable[[str], None] = print):
    """The pipeline of a profile, loaded once per process and reused across shots, from the backbone
    its kind names (model/backbones/)."""
    from .model import backbones
    from .model.profile_files import UntrainedModelWarning

    device = resolve_device(config.models.device)
    dtype = config.models.cuda_dtype if device.startswith("cuda") else "float32"
    key = (name, _profile_path(name, config), device, dtype)
    if key not in _PIPELINES:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UntrainedModelWarning)
            _PIPELINES[key] = backbones.load(config.models.profiles[name].kind, name, key[1], device, dtype)
        for warning in caught:
            log("warning: %s" % warning.message)
    return _PIPELINES[key]
