"""Fréchet Video Distance with pluggable I3D weights.

FVD = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)) between Gaussians fitted to I3D features of
real and generated videos. The I3D is a TorchScript file following StyleGAN-V's `i3d_torchscript.pt`
convention: called as `detector(videos, rescale=True, resize=True, return_features=True)` on float
videos (N, 3, T, H, W) with values in [0, 255]; it rescales to [-1, 1] and resizes to 224 itself and
returns the 400-d logits-layer features. Nothing is downloaded: pass the file's local path.

Small sample sets bias FVD upward (a covariance from N videos has rank < N): compare FVDs only between
methods scored on the same clips, never with published numbers.
"""
from __future__ import annotations

import os
import warnings
from typing import Optional, Tuple

import numpy as np

from ..errors import ModelError

# Features narrower than this do not come from a real I3D (which gives 400 or 1024).
MIN_REAL_FEATURE_DIM = 128


def gaussian_statistics(features: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of (N, D) features (unbiased; zero covariance for N = 1)."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError("features must be (N, D) with N >= 1, got %s" % (features.shape,))
    mu = features.mean(axis=0)
    if len(features) == 1:
        return mu, np.zeros((features.shape[1],) * 2)
    return mu, np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Tr((S1 S2)^(1/2)) is computed as Tr((S1^(1/2) S2 S1^(1/2))^(1/2)), whose argument is symmetric
    positive semi-definite (same eigenvalues as S1 S2): stable without scipy, and never complex."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError("mismatched statistics: mu %s / %s, sigma %s / %s" % (mu1.shape, mu2.shape, sigma1.shape,
                                                                                sigma2.shape))
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    trace_sqrt = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def frechet_distance_of_features(real: np.ndarray, generated: np.ndarray) -> float:
    return frechet_distance(*gaussian_statistics(real), *gaussian_statistics(generated))


class I3DFeatures:
    """Video features from a TorchScript I3D (StyleGAN-V convention, module docstring)."""

    def __init__(self, detector, name: str, is_real: bool = True, device: str = "cpu", batch: int = 4,
                 detector_kwargs: Optional[dict] = None):
        self.detector = detector
        self.name = name
        self.is_real = bool(is_real)
        self.device = device
        self.batch = int(batch)
        self.detector_kwargs = dict(detector_kwargs or {"rescale": True, "resize": True, "return_features": True})

    @classmethod
    def from_file(cls, path: str, device: str = "cpu", **kwargs) -> "I3DFeatures":
        import torch

        if not os.path.isfile(path):
            raise ModelError("I3D %s: no such file; give the local path of a TorchScript I3D such as "
                             "StyleGAN-V's i3d_torchscript.pt" % path)
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.x, and still how I3D ships
                warnings.simplefilter("ignore", DeprecationWarning)
                detector = torch.jit.load(path, map_location=device).eval()
        except (RuntimeError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ModelError("I3D %s: not a loadable TorchScript file (%s)" % (path, reason)) from None
        return cls(detector, os.path.basename(path), True, device, **kwargs)

    def __call__(self, videos: np.ndarray) -> np.ndarray:
        """(N, T, H, W, 3) videos in [0, 1] -> (N, D) features. A detector whose features are narrower
        than MIN_REAL_FEATURE_DIM is marked not real (`is_real` False)."""
        import torch

        videos = np.asarray(videos, np.float32)
        features = []
        for start in range(0, len(videos), self.batch):
            chunk = torch.from_numpy(np.ascontiguousarray(videos[start:start + self.batch]) * 255.0)
            chunk = chunk.permute(0, 4, 1, 2, 3).to(self.device)  # (N, 3, T, H, W)
            with torch.inference_mode():
                out = self.detector(chunk, **self.detector_kwargs)
            features.append(out.float().reshape(len(chunk), -1).cpu().numpy())
        result = np.concatenate(features).astype(np.float64)
        if result.shape[1] < MIN_REAL_FEATURE_DIM:
            self.is_real = False
        return result


def load_i3d(path: Optional[str], device: str = "cpu") -> Optional[I3DFeatures]:
    return None if not path else I3DFeatures.from_file(path, device)


def fvd(real_videos: np.ndarray, generated_videos: np.ndarray, extractor) -> float:
    """FVD between two sets of (N, T, H, W, 3) videos in [0, 1] under `extractor`'s features."""
    return frechet_distance_of_features(extractor(real_videos), extractor(generated_videos))
