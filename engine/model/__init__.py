"""The ActAnywhere model: profiles, the network, weights on disk and the sampling pipeline.

`profile` is pure Python; everything else needs torch and diffusers, so it is imported on first use.
"""
from actanywhere.engine.model.profile import ModelProfile

_LAZY = {
    "ActAnywhereModel": "architecture",
    "ActAnywherePipeline": "pipeline",
    "Conditioning": "pipeline",
    "make_scheduler": "pipeline",
    "load_profile": "profile_files",
    "load_pretrained": "profile_files",
    "save_pretrained": "profile_files",
    "checksum": "profile_files",
    "UntrainedModelWarning": "profile_files",
    "init_actanywhere_sd15": "sd15",
    "init_zeroshot_sd15_inpaint": "zeroshot",
}

__all__ = ["ModelProfile", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module("%s.%s" % (__name__, _LAZY[name]))
        return getattr(module, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
