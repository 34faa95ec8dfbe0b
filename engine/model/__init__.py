"""The ActAnywhere model: profiles, the network, weights on disk and the sampling pipeline.

`profile` is pure Python; everything else needs torch and diffusers, so it is imported on first use.
"""
from actanywhere.engine.model.profile import ModelProfile

_LAZY = {
    "ActAnywhereModel": "architecture",
    "ActAnywherePipeline": "pipeline",
    "Conditioning": "pipeline",
    "make_scheduler": "pipeline",
    "load_profile": "weights",
    "load_pretrained": "weights",
    "save_pretrained": "weights",
    "checksum": "weights",
    "UntrainedModelWarning": "weights",
    "init_actanywhere_sd15": "sd15",
    "init_zeroshot_sd15_inpaint": "zeroshot",
}

__all__ = ["ModelProfile", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
