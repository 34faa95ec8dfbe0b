"""The files of a profile's small networks (the detail pass, the interaction pass): one folder holding
config.json (the constructor's keywords) and model.safetensors (the weights)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch.nn as nn

from actanywhere.engine.errors import ModelError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FILES = (CONFIG_FILE, WEIGHTS_FILE)


def save_net(net: nn.Module, folder) -> None:
    """`net.config` as config.json and its state dict as model.safetensors in `folder`."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(net.config, indent=2) + "\n")
    save_file({k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}, str(folder / WEIGHTS_FILE))


def load_net(folder, build: Callable[[dict, str], nn.Module], what: str) -> nn.Module:
    """The network save_net wrote to `folder`, built by build(config, source) and in eval mode; errors name
    the folder and the files expected."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        net = build(json.loads((folder / CONFIG_FILE).read_text()), str(folder / CONFIG_FILE))
        net.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    except ModelError:
        raise
    except Exception as exc:  # OSError, ValueError, RuntimeError (shapes), SafetensorError
        raise ModelError("%s: cannot load the %s (%s: %s); expected "
                         "%s and %s as written by save_pretrained"
                         % (folder, what, type(exc).__name__, exc, CONFIG_FILE, WEIGHTS_FILE)) from exc
    return net.eval().requires_grad_(False)
