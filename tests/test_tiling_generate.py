"""generate on a plate larger than the model: global pass, tiled refinement at an odd plate size,
frames streamed out through the versioned writer with the tiling in the provenance."""
import dataclasses
import json
import os

import numpy as np
import OpenImageIO as oiio
import pytest

from actanywhere.engine import config
from actanywhere.engine.cli import main
from actanywhere.engine.generate import load_pipeline
from actanywhere.engine.generation_plan import refinement_size, working_size
from actanywhere.engine.media.image_read import ImageInfo
from actanywhere.engine.media.window import Window
from actanywhere.engine.model.refine import TilingPlan
from shot_files import write_shot

FRAMES = (1001, 1002, 1003)
WIDTH, HEIGHT = 101, 57  # not multiples of the VAE factor, larger than the tiny model's 64x64


def matte_for(index):
    matte = np.zeros((HEIGHT, WIDTH), np.float32)
    matte[10:50, 30 + 5 * index:50 + 5 * index] = 1.0
    return matte


@pytest.fixture
def big_shot(tmp_path):
    return write_shot(tmp_path, FRAMES, WIDTH, HEIGHT, matte_for, seed=1, condition="cond.exr")


def test_refinement_size_unsqueezes_anamorphic_plates_and_skips_small_ones():
    class Stub:
        vae_scale_factor = 4
        profile = type("P", (), {"native_height": 64, "native_width": 64})

    plan = TilingPlan(16, 4, 64, 16, 0.4)
    plate = ImageInfo(path="p.exr", width=1024, height=858, pixel_aspect=2.0, channel_names=("R", "G", "B"),
                      colourspace=None, fps=None, data_window=Window(0, 0, 1024, 858), file_format="openexr",
                      pixel_type="half")
    assert refinement_size(plate, working_size(plate, Stub()), plan) == (2048, 858)
    small = dataclasses.replace(plate, width=60, height=30, pixel_aspect=1.0)
    assert refinement_size(small, working_size(small, Stub()), plan) is None
    assert refinement_size(plate, working_size(plate, Stub()), TilingPlan(16, 4, 64, 16, 0.0)) is None


@pytest.mark.slow
def test_generate_refines_an_odd_sized_plate_in_tiles(big_shot, capsys):
    code = main([
        "generate", "--shot", "sh020",
        "--plate", str(big_shot / "plate" / "p.####.exr"), "--matte", str(big_shot / "roto" / "m.####.exr"),
        "--condition", str(big_shot / "cond.exr"), "--out", str(big_shot / "out" / "{version}" / "{shot}_{pass}_{version}.####.exr"),
        "--frames", "1001-1003", "--steps", "2", "--quiet",
        "--set", "colour.plate_colourspace=ACEScg", "--set", "tiling.tile_size=64", "--set", "tiling.window_frames=2",
        "--set", "tiling.window_overlap=1", "--set", "tiling.refine_strength=0.5",
    ])
    assert code == 0, capsys.readouterr().err
    for index, frame in enumerate(FRAMES):
        bg = oiio.ImageBuf(str(big_shot / "out" / "v001" / ("sh020_bg_v001.%04d.exr" % frame)))
        assert (bg.spec().width, bg.spec().height) == (WIDTH, HEIGHT)
        comp = oiio.ImageBuf(str(big_shot / "out" / "v001" / ("sh020_comp_v001.%04d.exr" % frame))).get_pixels(oiio.FLOAT)
        plate = oiio.ImageBuf(str(big_shot / "plate" / ("p.%04d.exr" % frame))).get_pixels(oiio.FLOAT)
        subject = matte_for(index) == 1.0
        assert np.array_equal(comp[subject], plate[subject])
        assert np.isfinite(bg.get_pixels(oiio.FLOAT)).all()
    tiling = json.loads(bg.spec().get_string_attribute("actanywhere/tiling"))
    assert tiling["refine_size"] == "101x57" and tiling["latent_size"] == "26x15"
    assert tiling["tiles"] == 2 and tiling["windows"] == 2 and tiling["plan"]["tile"] == 16
    assert tiling["settings"]["tile_size"] == 64
    # --steps 2 as given; guidance left at 0 in the config, recorded as the profile's default it resolved to
    sampler = json.loads(bg.spec().get_string_attribute("actanywhere/sampler"))
    profile = load_pipeline("tiny", config.load(environ={}).config).profile  # already loaded by the run
    assert (sampler["steps"], sampler["guidance"]) == (2, profile.default_guidance_scale)
    leftovers = [name for name in os.listdir(os.path.dirname(bg.name)) if name.startswith(".")]
    assert leftovers == [".actanywhere-version.json"]  # the version's record; nothing staged is left
    assert sorted(os.listdir(str(big_shot / "out"))) == ["v001"]
