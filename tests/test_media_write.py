import os
import subprocess
import sys

import numpy as np
import pytest

from actanywhere.engine.errors import MediaError
from actanywhere.engine.media import Window, read_image, read_image_info, resize_image, write_exr

BIN = os.path.dirname(sys.executable)


def oiiotool_info(path):
    return subprocess.run([os.path.join(BIN, "oiiotool"), "--info", "-v", path],
                          capture_output=True, text=True, check=True).stdout


def test_header_attributes_read_back_by_oiiotool(tmp_path):
    path = str(tmp_path / "bg.1001.exr")
    write_exr(path, np.zeros((8, 16, 3), np.float32), "RGB", compression="piz", pixel_aspect=2.0,
              colourspace="ACEScg", attributes={"actanywhere/seed": 42, "actanywhere/model": "tiny",
                                               "actanywhere/cfg": 2.5})
    info = oiiotool_info(path)
    assert 'actanywhere/seed: 42' in info
    assert 'actanywhere/model: "tiny"' in info
    assert 'actanywhere/cfg: 2.5' in info
    assert 'compression: "piz"' in info
    assert "PixelAspectRatio: 2" in info
    assert 'oiio:ColorSpace: "lin_ap1_scene"' in info
    assert "half" in info
    assert os.listdir(str(tmp_path)) == ["bg.1001.exr"]  # no temporary left behind


def test_colourspace_replaces_a_stale_interop_id(tmp_path):
    path = str(tmp_path / "srgb.exr")
    write_exr(path, np.zeros((4, 4, 3), np.float32), "RGB", colourspace="sRGB Encoded Rec.709 (sRGB)")
    assert read_image_info(path).colourspace == "sRGB Encoded Rec.709 (sRGB)"
    assert 'colorInteropID: "srgb_rec709_scene"' in oiiotool_info(path)
    write_exr(path, np.zeros((4, 4, 3), np.float32), "RGB", colourspace="scene_linear")
    assert read_image_info(path).colourspace == "ACEScg"


@pytest.mark.parametrize("datatype", ["half", "float"])
def test_round_trip_is_identical_by_idiff(tmp_path, datatype):
    pixels = np.random.default_rng(1).random((32, 48, 4), dtype=np.float32) * 4 - 1
    first = str(tmp_path / "first.exr")
    write_exr(first, pixels, "RGBA", datatype=datatype)
    read, info = read_image(first)
    second = str(tmp_path / "second.exr")
    write_exr(second, read, info.channel_names, datatype=datatype)
    result = subprocess.run([os.path.join(BIN, "idiff"), first, second], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    if datatype == "float":
        np.testing.assert_array_equal(read, pixels)


def test_data_window_stores_only_the_box(tmp_path):
    pixels = np.zeros((10, 20), np.float32)
    pixels[2:5, 3:9] = 1.0
    path = str(tmp_path / "matte.exr")
    write_exr(path, pixels, ["A"], data_window=Window(3, 2, 6, 3))
    read, info = read_image(path)
    assert info.data_window == Window(3, 2, 6, 3)
    assert (info.width, info.height) == (20, 10)
    np.testing.assert_array_equal(read[:, :, 0], pixels)
    with pytest.raises(ValueError, match="outside"):
        write_exr(path, pixels, ["A"], data_window=Window(15, 0, 10, 3))


def test_lossy_compression_only_when_named(tmp_path):
    path = str(tmp_path / "dwa.exr")
    write_exr(path, np.zeros((16, 16, 3), np.float32), "RGB", compression="dwaa")
    assert 'compression: "dwaa"' in oiiotool_info(path)
    with pytest.raises(ValueError, match="compression"):
        write_exr(path, np.zeros((4, 4, 3), np.float32), "RGB", attributes={"compression": "dwab"})
    with pytest.raises(ValueError, match="unknown EXR compression"):
        write_exr(path, np.zeros((4, 4, 3), np.float32), "RGB", compression="jpeg")


def test_unwritable_folder_names_it(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(MediaError, match=str(missing)):
        write_exr(str(missing / "a.exr"), np.zeros((4, 4, 3), np.float32), "RGB")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(MediaError, match=str(blocker)):
        write_exr(str(blocker / "a.exr"), np.zeros((4, 4, 3), np.float32), "RGB")


def test_failed_write_leaves_no_file(tmp_path):
    path = str(tmp_path / "a.exr")
    with pytest.raises(TypeError):
        write_exr(path, np.zeros((4, 4, 3), np.float32), "RGB", attributes={"bad": [1, 2]})
    assert os.listdir(str(tmp_path)) == []


def test_resize_filters():
    matte = np.zeros((8, 8), np.float32)
    matte[:4, :4] = 1.0
    np.testing.assert_array_equal(resize_image(matte, 2, 2, "box"), [[1, 0], [0, 0]])
    nearest = resize_image(matte, 16, 16, "nearest")
    assert set(np.unique(nearest)) == {0.0, 1.0} and nearest.sum() == 64
    plate = np.random.default_rng(0).random((40, 60, 3), dtype=np.float32)
    smaller = resize_image(plate, 30, 20)
    assert smaller.shape == (20, 30, 3)
    assert smaller.mean() == pytest.approx(plate.mean(), abs=0.01)
    with pytest.raises(MediaError, match="bogus"):
        resize_image(plate, 10, 10, "bogus")
