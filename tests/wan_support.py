"""Wan 2.1 VACE from the configs in engine/model/configs/wan-vace-*: a tiny random model saved in the
layout of Wan-AI/Wan2.1-VACE-1.3B-diffusers (what `model init wan-vace --from` reads)."""
from actanywhere.engine.model.backbones import wan_vace


def save_tiny_wan_vace(directory, seed=0):
    return wan_vace.save_random("wan-vace-tiny", directory, seed)
