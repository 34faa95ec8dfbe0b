import numpy as np
import pytest

from actanywhere.engine.errors import MediaError
from actanywhere.engine.media import ColourTransform

SRGB = "sRGB Encoded Rec.709 (sRGB)"


def test_scene_linear_to_srgb_and_back(monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    pixels = np.random.default_rng(3).random((8, 8, 4), dtype=np.float32)
    to_srgb = ColourTransform("scene_linear", "srgb_tx")
    assert to_srgb.description == "ACEScg -> %s via ocio://default" % SRGB
    encoded = to_srgb.apply(pixels)
    assert not np.allclose(encoded[..., :3], pixels[..., :3], atol=0.01)
    np.testing.assert_array_equal(encoded[..., 3], pixels[..., 3])  # alpha untouched
    back = to_srgb.inverse().apply(encoded)
    assert to_srgb.inverse().description == "%s -> ACEScg via ocio://default" % SRGB
    # Only pixels whose sRGB encoding lies within 0-1 survive the clamp (saturated AP1 colours fall
    # outside Rec.709); there must be enough of them for the test to mean something.
    inside = ((encoded[..., :3] > 0) & (encoded[..., :3] < 1)).all(axis=2)
    assert inside.sum() >= 10
    np.testing.assert_allclose(back[inside][:, :3], pixels[inside][:, :3], atol=1e-4)


def test_display_encoding_is_clamped_but_scene_linear_is_not():
    pixels = np.array([[[-0.2, 0.5, 8.0]]], np.float32)
    encoded = ColourTransform("ACEScg", SRGB).apply(pixels)
    assert encoded.min() >= 0.0 and encoded.max() <= 1.0
    linear = ColourTransform("ACEScg", "Linear Rec.709 (sRGB)").apply(pixels)
    assert linear.max() > 1.0 and linear.min() < 0.0
    assert not ColourTransform("ACEScg", "ACEScct").clamps


def test_known_white_point():
    white = ColourTransform("ACEScg", SRGB).apply(np.ones((1, 1, 3), np.float32))
    np.testing.assert_allclose(white, 1.0, atol=1e-3)


def test_unknown_colour_space_lists_names():
    with pytest.raises(MediaError, match=r"unknown colour space 'ACEScgg'.*ACEScg.*scene_linear"):
        ColourTransform("ACEScgg", SRGB)


def test_config_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OCIO", str(tmp_path / "missing.ocio"))
    with pytest.raises(MediaError, match="missing.ocio"):
        ColourTransform("scene_linear", "srgb_tx")
    assert ColourTransform("scene_linear", "srgb_tx", config="ocio://default").config == "ocio://default"
