"""The ActAnywhere trainer: `actanywhere train CONFIG`, or `accelerate launch -m actanywhere.engine.training
CONFIG` for many GPUs. See docs/training.md.

`config` and `data` need no torch at import; the trainer is imported on first use."""
from actanywhere.engine.training.config import TrainingConfig, load_training_config

_LAZY = {"run_training": "trainer", "train": "trainer", "TrainingResult": "trainer"}

__all__ = ["TrainingConfig", "load_training_config", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module("%s.%s" % (__name__, _LAZY[name])), name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
