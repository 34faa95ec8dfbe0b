"""IP-Adapter image conditioning inside a UNetMotionModel: read, attach, extract.

The weights stay in h94/IP-Adapter's own layout, in memory and on disk: a nested state dict
{"image_proj": {"proj.weight", "proj.bias", "norm.weight", "norm.bias"},
 "ip_adapter": {"1.to_k_ip.weight", "1.to_v_ip.weight", "3.to_k_ip.weight", ...}}
(the .safetensors release flattens it to "image_proj.proj.weight", "ip_adapter.1.to_k_ip.weight", ...).
The ip_adapter keys number the U-Net's attention processors in `attn_processors` order (down, up, mid
blocks; self-attention even, cross-attention odd); UNetMotionModel lists its spatial cross-attention
in the same order as the UNet2DConditionModel it was built from (tested), and diffusers'
`_load_ip_adapter_weights` skips the motion modules.

diffusers' `save_pretrained` / `from_pretrained` of the U-Net do not keep an IP-Adapter: the weights
land in the U-Net's file as unexpected keys and are dropped on load. So a profile directory keeps the
plain U-Net in unet/ and the IP-Adapter beside it (profile_files.IP_ADAPTER_FILE), attached again at load.
Only the basic IP-Adapter (ip-adapter_sd15, ip-adapter_sd15_light: a linear projection of the CLIP
image embedding to 4 tokens) is supported: the Plus / Full / FaceID variants need other encoder outputs.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Dict

import torch

from actanywhere.engine.errors import ModelError

IMAGE_TOKENS = 4  # the basic IP-Adapter's image tokens per image


def _ip_processor_classes():
    from diffusers.models.attention_processor import IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0

    return (IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0)


def has_ip_adapter(unet) -> bool:
    return getattr(unet, "encoder_hid_proj", None) is not None and any(
        isinstance(p, _ip_processor_classes()) for p in unet.attn_processors.values())


def read_ip_adapter_file(path) -> Dict[str, Dict[str, torch.Tensor]]:
    """An IP-Adapter checkpoint (.bin: a pickled nested dict, .safetensors: flattened keys) -> nested dict."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("%s: IP-Adapter weights missing; expected a file such as models/ip-adapter_sd15.bin "
                         "or .safetensors from h94/IP-Adapter" % (path,))
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            flat = load_file(str(path))
            nested = {"image_proj": {}, "ip_adapter": {}}
            for key, tensor in flat.items():
                group, _, name = key.partition(".")
                if group in nested:
                    nested[group][name] = tensor
        else:
            nested = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError("%s: not a readable IP-Adapter checkpoint (%s: %s)" % (path, type(exc).__name__, exc)) from exc
    if not isinstance(nested, dict) or not nested.get("image_proj") or not nested.get("ip_adapter"):
        raise ModelError("%s: not an IP-Adapter checkpoint: expected 'image_proj' and 'ip_adapter' weights" % (path,))
    return nested


def flatten(state_dict: Dict[str, Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """The nested layout -> the flat .safetensors layout of h94/IP-Adapter."""
    return {"%s.%s" % (group, name): tensor for group in ("image_proj", "ip_adapter")
            for name, tensor in state_dict[group].items()}


def check_ip_adapter(unet, state_dict, image_embed_dim: int, source="IP-Adapter") -> None:
    """Refuse weights that do not fit this U-Net and image encoder, naming the mismatch."""
    image_proj = state_dict["image_proj"]
    if "proj.weight" not in image_proj:
        raise ModelError("%s: only the basic IP-Adapter (ip-adapter_sd15, ip-adapter_sd15_light) is "
                         "supported; image_proj holds %s" % (source, sorted(image_proj)[:4]))
    cross = unet.config.cross_attention_dim
    expected = (IMAGE_TOKENS * cross, image_embed_dim)
    if tuple(image_proj["proj.weight"].shape) != expected:
        raise ModelError(
            "%s: image_proj.proj.weight is %s, expected %s "
            "(%s tokens x the U-Net's cross_attention_dim %s, by the image encoder's "
            "projection_dim %s): the IP-Adapter and image encoder must belong together"
            % (source, tuple(image_proj['proj.weight'].shape), expected, IMAGE_TOKENS, cross, image_embed_dim))
    cross_layers = [n for n in unet.attn_processors if not n.endswith("attn1.processor") and "motion_modules" not in n]
    wanted = {"%s.%s.weight" % (2 * i + 1, kv) for i in range(len(cross_layers)) for kv in ("to_k_ip", "to_v_ip")}
    if set(state_dict["ip_adapter"]) != wanted:
        raise ModelError("%s: %s cross-attention layers of weights for a "
                         "U-Net with %s: not an IP-Adapter for this U-Net"
                         % (source, len(state_dict['ip_adapter']) // 2, len(cross_layers)))


def attach_ip_adapter(unet, state_dict, scale: float = 1.0, image_embed_dim=None) -> None:
    """Load the IP-Adapter into the U-Net (image projection + cross-attention processors), in place."""
    if image_embed_dim is None:
        image_embed_dim = state_dict["image_proj"]["proj.weight"].shape[1]
    check_ip_adapter(unet, state_dict, image_embed_dim)
    try:
        unet._load_ip_adapter_weights([state_dict], low_cpu_mem_usage=False)
    except Exception as exc:
        raise ModelError("cannot attach the IP-Adapter (%s: %s)" % (type(exc).__name__, exc)) from exc
    set_ip_adapter_scale(unet, scale)


def set_ip_adapter_scale(unet, scale: float) -> None:
    for processor in unet.attn_processors.values():
        if isinstance(processor, _ip_processor_classes()):
            processor.scale = [float(scale)] * len(processor.scale)


def ip_adapter_state_dict(unet) -> Dict[str, Dict[str, torch.Tensor]]:
    """The attached IP-Adapter back in h94's nested layout (the inverse of diffusers' conversion)."""
    from diffusers.models.embeddings import ImageProjection

    layers = unet.encoder_hid_proj.image_projection_layers
    if len(layers) != 1 or not isinstance(layers[0], ImageProjection):
        raise ModelError("only one basic IP-Adapter (an ImageProjection) can be saved")
    image_proj = {name.replace("image_embeds.", "proj."): tensor.detach()
                  for name, tensor in layers[0].state_dict().items()}
    ip_adapter, key_id = {}, 1
    for processor in unet.attn_processors.values():
        if isinstance(processor, _ip_processor_classes()):
            ip_adapter["%s.to_k_ip.weight" % (key_id,)] = processor.to_k_ip[0].weight.detach()
            ip_adapter["%s.to_v_ip.weight" % (key_id,)] = processor.to_v_ip[0].weight.detach()
            key_id += 2
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


@contextmanager
def ip_adapter_detached(unet):
    """The U-Net without its IP-Adapter for the duration (to save the plain U-Net); the same modules
    are put back afterwards, so an optimiser's references stay valid."""
    if not has_ip_adapter(unet):
        yield unet
        return
    from diffusers.models.attention_processor import AttnProcessor2_0

    processors = unet.attn_processors
    projection = unet.encoder_hid_proj
    ip_classes = _ip_processor_classes()
    unet.set_attn_processor({name: AttnProcessor2_0() if isinstance(p, ip_classes) else p
                             for name, p in processors.items()})
    unet.encoder_hid_proj = None
    unet.register_to_config(encoder_hid_dim_type=None)
    try:
        yield unet
    finally:
        unet.set_attn_processor(dict(processors))
        unet.encoder_hid_proj = projection
        unet.config.encoder_hid_dim_type = "ip_image_proj"  # as diffusers' _load_ip_adapter_weights sets it
