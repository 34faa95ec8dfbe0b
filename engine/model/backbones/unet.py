"""The ActAnywhere U-Net backbone (kinds tiny, actanywhere-sd15, zeroshot-sd15-inpaint): model/pipeline.py,
model/profile_files.py and the passes around them, unchanged behind the seam."""
from __future__ import annotations


def load(name: str, path, device: str, dtype=None):
    from actanywhere.engine.model.pipeline import ActAnywherePipeline

    return ActAnywherePipeline.from_profile(name, path=path, device=device, dtype=dtype)
