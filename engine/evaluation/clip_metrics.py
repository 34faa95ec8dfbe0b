"""The paper's CLIP metrics, with a pluggable image encoder.

CLIP_cond: the mean cosine similarity between the embedding of each output frame and that of the
condition image. CLIP_temp: the mean cosine similarity between the embeddings of consecutive output
frames. Both are cosines in [-1, 1] (the paper's tables use the same quantity); values depend on the
backbone, so they are only comparable under the same pinned encoder (ViT-L/14 for the paper's numbers).

An encoder is any callable mapping (N, H, W, 3) float images in [0, 1] to (N, D) embeddings, with two
attributes: `name` and `is_real`. Only an encoder loaded from real CLIP weights (`CLIPImageEncoder.
from_pretrained(local_dir)`) is `is_real`; `random_clip_encoder()` is for tests, and the report never
prints a number it produced as a CLIP score.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from ..errors import ModelError

# CLIP's preprocessing constants (openai/clip-vit-large-patch14 preprocessor_config.json).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# A vision tower narrower than this is a toy configuration, whatever folder it came from.
MIN_REAL_HIDDEN_SIZE = 256


def _normalise(embeddings: np.ndarray) -> np.ndarray:
    embeddings = np.asarray(embeddings, np.float64)
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


def clip_cond_from_embeddings(frame_embeddings: np.ndarray, condition_embedding: np.ndarray) -> float:
    """Mean cosine between each frame's embedding (T, D) and the condition's (D,) or (1, D)."""
    frames = _normalise(frame_embeddings)
    condition = _normalise(np.reshape(condition_embedding, (1, -1)))
    return float((frames @ condition.T).mean())


def clip_temp_from_embeddings(frame_embeddings: np.ndarray) -> float:
    """Mean cosine between consecutive frames' embeddings (T, D); NaN for fewer than two frames."""
    frames = _normalise(frame_embeddings)
    if len(frames) < 2:
        return float("nan")
    return float((frames[1:] * frames[:-1]).sum(axis=-1).mean())


def clip_scores(frames: np.ndarray, condition: np.ndarray, encoder, batch: int = 16) -> dict:
    """{"clip_cond", "clip_temp"} of a (T, H, W, 3) video against its (h, w, 3) condition image."""
    embeddings = embed(encoder, frames, batch)
    condition_embedding = embed(encoder, np.asarray(condition)[None], batch)[0]
    return {"clip_cond": clip_cond_from_embeddings(embeddings, condition_embedding),
            "clip_temp": clip_temp_from_embeddings(embeddings)}


def embed(encoder, images: np.ndarray, batch: int = 16) -> np.ndarray:
    images = np.asarray(images, np.float32)
    parts = [np.asarray(encoder(images[start:start + batch]), np.float64) for start in range(0, len(images), batch)]
    return np.concatenate(parts)


class CLIPImageEncoder:
    """A transformers CLIPVisionModelWithProjection as an encoder: resize the shortest side to the
    model's image size (bicubic, antialiased), centre crop, normalise with CLIP's mean and std, and
    return the projected `image_embeds`."""

    def __init__(self, model, name: str, is_real: bool, device: str = "cpu",
                 mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD):
        self.model = model.eval().to(device)
        self.name = name
        self.is_real = bool(is_real)
        self.device = device
        self.image_size = int(model.config.image_size)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)

    @classmethod
    def from_pretrained(cls, path: str, device: str = "cpu") -> "CLIPImageEncoder":
        """A CLIP vision model with projection from a local folder (config.json + weights, as
        `save_pretrained` or a hub snapshot writes it); never downloads."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if not os.path.isdir(path):
            raise ModelError("CLIP encoder %s: not a folder; give a local folder holding a "
                             "CLIPVisionModelWithProjection (e.g. openai/clip-vit-large-patch14)" % path)
        from transformers import CLIPVisionModelWithProjection

        try:
            model = CLIPVisionModelWithProjection.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as error:
            raise ModelError("CLIP encoder %s: cannot load a CLIPVisionModelWithProjection (%s); the folder needs "
                             "config.json and model.safetensors or pytorch_model.bin" % (path, error)) from None
        mean, std = _processor_stats(path)
        real = int(model.config.hidden_size) >= MIN_REAL_HIDDEN_SIZE
        name = "%s (hidden %d, projection %d)" % (os.path.basename(os.path.normpath(path)),
                                                  model.config.hidden_size, model.config.projection_dim)
        return cls(model, name, real, device, mean, std)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        pixels = torch.from_numpy(np.ascontiguousarray(images, np.float32)).permute(0, 3, 1, 2)
        height, width = pixels.shape[-2:]
        size = self.image_size
        scale = size / min(height, width)
        resized = (max(size, round(height * scale)), max(size, round(width * scale)))
        pixels = F.interpolate(pixels, size=resized, mode="bicubic", antialias=True, align_corners=False)
        top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
        pixels = pixels[:, :, top:top + size, left:left + size].clamp(0, 1)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        with torch.inference_mode():
            out = self.model(pixel_values=((pixels - mean) / std).to(self.device)).image_embeds
        return out.float().cpu().numpy()


def _processor_stats(path: str):
    import json

    config = os.path.join(path, "preprocessor_config.json")
    if os.path.isfile(config):
        try:
            with open(config, encoding="utf-8") as stream:
                data = json.load(stream)
            return tuple(data.get("image_mean", CLIP_MEAN)), tuple(data.get("image_std", CLIP_STD))
        except (OSError, ValueError):
            pass
    return CLIP_MEAN, CLIP_STD


def random_clip_encoder(seed: int = 0, hidden_size: int = 32, projection_dim: int = 16, image_size: int = 32,
                        patch_size: int = 8, layers: int = 2) -> CLIPImageEncoder:
    """A randomly initialised tiny CLIP vision tower: for tests of the math only (`is_real` False)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                              projection_dim=projection_dim, num_hidden_layers=layers, num_attention_heads=4,
                              image_size=image_size, patch_size=patch_size)
    torch.manual_seed(seed)
    return CLIPImageEncoder(CLIPVisionModelWithProjection(config), "random tiny CLIP (test only)", False)


def load_clip_encoder(path: Optional[str], device: str = "cpu") -> Optional[CLIPImageEncoder]:
    return None if not path else CLIPImageEncoder.from_pretrained(path, device)
