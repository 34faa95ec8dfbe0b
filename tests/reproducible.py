"""Comparing two float results that should agree: two runs of a model, a saved and a loaded profile, a
tiled and a plain path.

On the CPU they need not agree to the last bit: torch's kernels choose their summation order by thread
count, memory alignment and vector width. Measured on 2 cores: a profile saved and loaded again gives
pipeline outputs up to 7e-6 away from the original's, with one thread as with two, so pinning threads
alone does not make such a comparison exact. A real change moves the tiny model's outputs far more
(measured: another seed, guidance scale, condition image, subject pixel or denoising step changes pixels,
latents or noise predictions by 0.03 to 0.9; a detail-net bias off by 0.01 changes pixels by 0.01). So
these comparisons use ATOL, between the two, and checks that something changed ask for more than it.
"""
import contextlib

import numpy as np

ATOL = 1e-4  # pixels in [0, 1], latents and noise predictions of order 1


def as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def assert_same_result(actual, expected, atol: float = ATOL) -> None:
    """`actual` equals `expected` up to float rounding (see the module's note for why not exactly)."""
    actual, expected = as_array(actual), as_array(expected)
    assert actual.shape == expected.shape, "shape %s, expected %s" % (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def max_difference(a, b) -> float:
    return float(np.abs(as_array(a).astype(np.float64) - as_array(b).astype(np.float64)).max())


@contextlib.contextmanager
def one_thread():
    """torch on one thread for the block, the previous count restored after it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
