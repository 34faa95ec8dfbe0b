"""Every choice one generation makes, decided once.

`GenerationPlan.build` reads a resolved spec, what `check_inputs` learned from the files' headers and the
loaded pipeline, and settles: the steps and guidance (the spec's 0 meaning the profile's default), the
working size the model samples at, the refinement size (or none), the tiling in the model's units, and
the shot's three colour transforms. generate_shot, the refiner and the provenance header read the plan;
nothing downstream looks at the spec's "0: the profile's default" again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Tuple

from .media.colour import ColourTransform
from .media.image_read import ImageInfo
from .settings import ColourSettings

if TYPE_CHECKING:  # model/refine.py imports torch: loaded on use
    from .model.refine import TilingPlan


@dataclass(frozen=True)
class ShotColour:
    """The shot's transforms: the plate and the condition into the model's space, and back to the plate's."""

    plate_to_model: ColourTransform
    condition_to_model: ColourTransform
    model_to_plate: ColourTransform

    @classmethod
    def between(cls, colour: ColourSettings, plate_space: str, condition_space: str) -> "ShotColour":
        """Built once, when the inputs are checked: an unknown space fails before any model work."""
        plate_to_model = ColourTransform(plate_space, colour.model_colourspace, colour.ocio_config)
        condition_to_model = ColourTransform(condition_space, colour.model_colourspace, colour.ocio_config)
        return cls(plate_to_model, condition_to_model, plate_to_model.inverse())


@dataclass(frozen=True)
class GenerationPlan:
    steps: int
    guidance: float
    scheduler: str
    prompt: str
    working_size: Tuple[int, int]  # (width, height) of the global pass
    refine_size: Optional[Tuple[int, int]]  # (width, height) of the tiled refinement; None: no refinement
    tiling: "TilingPlan"
    colour: ShotColour

    @classmethod
    def build(cls, spec, inputs, pipeline, log: Callable[[str], None] = print) -> "GenerationPlan":
        from .model.refine import TilingPlan

        size = working_size(inputs.plate_info, pipeline)
        tiling = TilingPlan.from_settings(spec.tiling, pipeline)
        refine_size = refinement_size(inputs.plate_info, size, tiling)
        if refine_size and not pipeline.supports_refinement:
            log("%s: profile %s has no tiled refinement yet: the plate is sampled at %dx%d and scaled up to %dx%d"
                % (spec.shot, spec.model, size[0], size[1], refine_size[0], refine_size[1]))
            refine_size = None
        steps, guidance = pipeline.profile.sampling(spec.sampler.steps, spec.sampler.guidance)
        return cls(steps, guidance, spec.sampler.scheduler, spec.sampler.prompt, size, refine_size, tiling,
                   inputs.colour)


def working_size(plate: ImageInfo, pipeline) -> Tuple[int, int]:
    """The model's native pixel count at the plate's picture aspect (pixel aspect applied, so an
    anamorphic plate is unsqueezed for the model and squeezed back on output), in multiples of the
    VAE's downsampling factor."""
    native_height, native_width = pipeline.profile.native_height, pipeline.profile.native_width
    multiple = pipeline.vae_scale_factor
    aspect = plate.width * plate.pixel_aspect / plate.height
    area = native_width * native_height
    width = max(multiple, int(round(math.sqrt(area * aspect) / multiple)) * multiple)
    height = max(multiple, int(round(math.sqrt(area / aspect) / multiple)) * multiple)
    return width, height


def refinement_size(plate: ImageInfo, size: Tuple[int, int], tiling) -> Optional[Tuple[int, int]]:
    """(width, height) of the tiled refinement, or None when the global pass is the result: the plate's
    size with its pixel aspect unsqueezed (the model draws square pixels; the output is squeezed back)."""
    width = max(1, int(round(plate.width * plate.pixel_aspect)))
    height = plate.height
    if tiling.strength <= 0.0 or (width <= size[0] and height <= size[1]):
        return None
    return width, height
