"""Outputs keep the plate's geometry: a plate with overscan (a data window beyond its display window), a
display window away from 0,0, an anamorphic pixel aspect, a frame rate and a time code per frame comes
back with exactly those, and the comp holds the plate's own subject pixels in the overscan too."""
import os

import numpy as np
import OpenImageIO as oiio
import pytest
import yaml

from actanywhere.engine.cli import main
from actanywhere.engine.media.exr_write import write_exr
from actanywhere.engine.media.window import Window
from engine_support import panning_plates, spec_data

FRAMES = (1001, 1002, 1003)
DISPLAY = Window(10, 20, 64, 36)  # the display window, away from the origin
OVERSCAN = 8  # pixels of plate beyond the display window on every side


def timecode(index):
    return (0x10000000 + index, 0)  # 10:00:00:0N as EXR's packed BCD, no user bits


def write_plate(directory):
    os.makedirs(os.path.join(directory, "plate"))
    os.makedirs(os.path.join(directory, "roto"))
    width, height = DISPLAY.width + 2 * OVERSCAN, DISPLAY.height + 2 * OVERSCAN
    origin = (DISPLAY.x - OVERSCAN, DISPLAY.y - OVERSCAN)
    plates = panning_plates(np.random.default_rng(0), len(FRAMES), width, height)
    for index, frame in enumerate(FRAMES):
        write_exr(os.path.join(directory, "plate", "p.%04d.exr" % frame), plates[index], ("R", "G", "B"),
                  colourspace="ACEScg", datatype="float", origin=origin, display_window=DISPLAY, pixel_aspect=2.0,
                  fps=25.0, timecode=timecode(index))
        matte = np.zeros((height, width), np.float32)
        matte[2:20, 0:14] = 1.0  # the subject stands partly in the overscan (left of the display window)
        write_exr(os.path.join(directory, "roto", "m.%04d.exr" % frame), matte, ("A",), origin=origin,
                  display_window=DISPLAY, pixel_aspect=2.0)
    condition = np.random.default_rng(1).uniform(0, 1, (36, 64, 3)).astype(np.float32)
    write_exr(os.path.join(directory, "cond.exr"), condition, ("R", "G", "B"), colourspace="ACEScg")
    return plates


def spec_of(path):
    image = oiio.ImageInput.open(path)
    try:
        return image.spec()
    finally:
        image.close()


@pytest.mark.slow
def test_an_overscan_plate_with_an_offset_origin_comes_back_with_its_geometry(tmp_path):
    shot = str(tmp_path / "shot")
    plates = write_plate(shot)
    spec = spec_data(shot, frames="1001-1003", condition=os.path.join(shot, "cond.exr"))
    (tmp_path / "shot.yaml").write_text(yaml.safe_dump(spec))
    assert main(["generate", str(tmp_path / "shot.yaml"), "--quiet"]) == 0
    for index, frame in enumerate(FRAMES):
        plate = spec_of(os.path.join(shot, "plate", "p.%04d.exr" % frame))
        for pass_name in ("bg", "comp"):
            out = spec_of(os.path.join(shot, "out", "v001", "sh010_%s_v001.%d.exr" % (pass_name, frame)))
            assert (out.x, out.y, out.width, out.height) == (plate.x, plate.y, plate.width, plate.height) == (
                2, 12, 80, 52)
            assert (out.full_x, out.full_y, out.full_width, out.full_height) == (10, 20, 64, 36)
            assert out.get_float_attribute("PixelAspectRatio") == 2.0
            assert out.getattribute("FramesPerSecond") == (25, 1)
            assert out.getattribute("smpte:TimeCode") == plate.getattribute("smpte:TimeCode") == timecode(index)
        comp = oiio.ImageBuf(os.path.join(shot, "out", "v001", "sh010_comp_v001.%d.exr" % frame)).get_pixels(oiio.FLOAT)
        # the subject, in the overscan and inside the display window, is the plate's own pixels
        np.testing.assert_allclose(comp[2:20, 0:14], plates[index][2:20, 0:14], atol=2e-3)  # half float
