import os

import numpy as np
import OpenImageIO as oiio
import pytest

from actanywhere.engine.errors import MediaError
from actanywhere.engine.media import Window, read_image, read_image_info, read_matte


def write_raw(path, pixels, channel_names, *, datatype="half", data_origin=(0, 0), display=None,
              compression="zip", tile=None, attributes=()):
    """Writes with OpenImageIO directly, so the reader is tested against files it did not write."""
    height, width, channels = pixels.shape
    spec = oiio.ImageSpec(width, height, channels, datatype)
    spec.x, spec.y = data_origin
    display_width, display_height = display or (width, height)
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, display_width, display_height
    spec.channelnames = tuple(channel_names)
    spec.attribute("compression", compression)
    if tile:
        spec.tile_width, spec.tile_height = tile
    for name, value in attributes:
        spec.attribute(name, value)
    output = oiio.ImageOutput.create(str(path))
    assert output.open(str(path), spec), output.geterror()
    assert output.write_image(np.ascontiguousarray(pixels, dtype=np.float32)), output.geterror()
    output.close()
    return str(path)


def ramp(height, width, channels):
    values = np.arange(height * width * channels, dtype=np.float32) / (height * width * channels)
    return values.reshape(height, width, channels)


@pytest.mark.parametrize("datatype", ["half", "float"])
@pytest.mark.parametrize("compression", ["zip", "piz", "none"])
@pytest.mark.parametrize("tile", [None, (16, 16)])
def test_exr_round_trip(tmp_path, datatype, compression, tile):
    pixels = ramp(20, 30, 4)
    path = write_raw(tmp_path / "a.exr", pixels, "RGBA", datatype=datatype, compression=compression, tile=tile)
    read, info = read_image(path)
    assert read.dtype == np.float32 and read.shape == (20, 30, 4)
    tolerance = 1e-3 if datatype == "half" else 0
    np.testing.assert_allclose(read, pixels, atol=tolerance)
    assert (info.width, info.height, info.channel_names) == (30, 20, ("R", "G", "B", "A"))
    assert info.pixel_type == datatype
    assert info.data_window == Window(0, 0, 30, 20)


def test_data_window_smaller_than_display_is_placed_and_padded_with_zero(tmp_path):
    box = np.full((4, 5, 1), 0.5, np.float32)  # a roto's bounding box
    path = write_raw(tmp_path / "roto.exr", box, ["A"], data_origin=(10, 6), display=(32, 16))
    matte, info = read_image(path)
    assert matte.shape == (16, 32, 1)
    assert info.data_window == Window(10, 6, 5, 4)
    assert matte[6:10, 10:15].min() == 0.5
    assert matte.sum() == pytest.approx(0.5 * 20)


def test_data_window_larger_than_display_is_cropped(tmp_path):
    blurred = ramp(14, 24, 3)  # a blur's bounding box overhanging the 20x10 display by 2 pixels
    path = write_raw(tmp_path / "blur.exr", blurred, "RGB", datatype="float", data_origin=(-2, -2),
                     display=(20, 10))
    pixels, info = read_image(path)
    assert pixels.shape == (10, 20, 3)
    np.testing.assert_array_equal(pixels, blurred[2:12, 2:22])
    assert info.data_window == Window(-2, -2, 24, 14)


def test_channels_are_picked_and_ordered_by_name(tmp_path):
    pixels = ramp(4, 4, 4)
    path = write_raw(tmp_path / "a.exr", pixels, "RGBA", datatype="float")
    picked, info = read_image(path, ["B", "R"])
    np.testing.assert_array_equal(picked, pixels[:, :, [2, 0]])
    assert info.channel_names == ("B", "R")
    with pytest.raises(MediaError, match=r"no channel 'Z'.*R, G, B, A"):
        read_image(path, ["Z"])


def test_header_metadata(tmp_path):
    path = write_raw(tmp_path / "a.exr", ramp(4, 8, 3), "RGB", attributes=[
        ("PixelAspectRatio", 2.0), ("oiio:ColorSpace", "ACEScg"),
    ])
    spec_fps = oiio.ImageSpec(4, 4, 3, "half")
    spec_fps.attribute("FramesPerSecond", oiio.TypeDesc("rational"), (24000, 1001))
    output = oiio.ImageOutput.create("exr")
    output.open(str(tmp_path / "fps.exr"), spec_fps)
    output.write_image(np.zeros((4, 4, 3), np.float32))
    output.close()
    info = read_image_info(path)
    assert info.pixel_aspect == 2.0
    assert info.colourspace == "ACEScg"  # the file says lin_ap1_scene; the config's name comes back
    assert info.file_format == "openexr"
    assert read_image_info(str(tmp_path / "fps.exr")).fps == pytest.approx(23.976, abs=1e-3)
    assert info.fps is None


@pytest.mark.parametrize("extension, datatype, tolerance", [
    ("dpx", "uint10", 1.5 / 1023), ("tif", "uint16", 1e-4), ("png", "uint8", 0.6 / 255),
    ("jpg", "uint8", 0.08),
])
def test_other_formats(tmp_path, extension, datatype, tolerance):
    pixels = np.tile(np.linspace(0, 1, 32, dtype=np.float32)[None, :, None], (16, 1, 3))
    path = str(tmp_path / ("plate." + extension))
    spec = oiio.ImageSpec(32, 16, 3, "uint16" if datatype == "uint10" else datatype)
    if datatype == "uint10":
        spec.attribute("oiio:BitsPerSample", 10)
    output = oiio.ImageOutput.create(path)
    assert output.open(path, spec), output.geterror()
    output.write_image(pixels)
    output.close()
    read, info = read_image(path)
    assert read.shape == (16, 32, 3) and read.dtype == np.float32
    np.testing.assert_allclose(read, pixels, atol=tolerance)
    assert info.channel_names == ("R", "G", "B")


def test_matte_channels(tmp_path):
    layered = np.zeros((4, 4, 5), np.float32)
    layered[..., 3] = 0.25  # A
    layered[..., 4] = 0.75  # matte.A
    path = write_raw(tmp_path / "layers.exr", layered, ["R", "G", "B", "A", "matte.A"])
    assert read_matte(path).max() == 0.25
    assert read_matte(path, "alpha").max() == 0.25
    assert read_matte(path, "matte.A").max() == 0.75
    with pytest.raises(MediaError, match=r"no channel 'mask'.*matte\.A"):
        read_matte(path, "mask")
    single = write_raw(tmp_path / "luma.exr", np.full((4, 4, 1), 0.5, np.float32), ["Y"])
    assert read_matte(single).shape == (4, 4)
    assert read_matte(single, "mask").max() == 0.5


def test_matte_overshoot_is_clamped_but_a_broken_matte_is_refused(tmp_path):
    overshoot = np.array([[-0.005, 0.5, 1.008]], np.float32)[:, :, None]
    path = write_raw(tmp_path / "soft.exr", overshoot, ["A"], datatype="float")
    matte = read_matte(path)
    assert matte.min() == 0.0 and matte.max() == 1.0
    broken = write_raw(tmp_path / "broken.exr", overshoot * 3, ["A"], datatype="float")
    with pytest.raises(MediaError, match=r"broken\.exr.*-0\.015 to 3\.024"):
        read_matte(broken)


def test_nan_and_inf_are_refused_with_a_fix(tmp_path):
    pixels = ramp(4, 4, 3)
    pixels[0, 0, 0] = np.nan
    pixels[1, 1, 1] = np.inf
    path = write_raw(tmp_path / "bad.exr", pixels, "RGB", datatype="float")
    with pytest.raises(MediaError) as error:
        read_image(path)
    message = str(error.value)
    assert "bad.exr" in message and "1 NaN and 1 infinite" in message and "--fixnan" in message
    assert np.isnan(read_image(path, check_pixels=False)[0]).sum() == 1


def test_truncated_missing_and_non_image_files(tmp_path):
    path = write_raw(tmp_path / "full.exr", np.random.rand(256, 256, 4).astype(np.float32), "RGBA")
    data = open(path, "rb").read()
    for name, content in [("half.exr", data[: len(data) // 2]), ("header.exr", data[:100]),
                          ("text.exr", b"not an image")]:
        broken = tmp_path / name
        broken.write_bytes(content)
        with pytest.raises(MediaError, match=name):
            read_image(str(broken))
    with pytest.raises(MediaError, match="not found: .*nothere.exr"):
        read_image(str(tmp_path / "nothere.exr"))


# -- what the header pass refuses (issue 19) ----------------------------------------------------------
def _header_of(tmp_path, name, spec):
    import OpenImageIO as oiio

    path = str(tmp_path / name)
    assert oiio.ImageBuf(spec).write(path)
    return read_image_info(path)


def test_luminance_chroma_and_oversized_frames_are_refused_from_the_header(tmp_path):
    import OpenImageIO as oiio

    from actanywhere.engine.media.image_read import check_readable

    chroma = oiio.ImageSpec(8, 8, 3, oiio.HALF)
    chroma.channelnames = ("Y", "RY", "BY")
    with pytest.raises(MediaError, match="luminance/chroma EXR .*write it as RGB"):
        check_readable(_header_of(tmp_path, "yc.exr", chroma))
    huge = oiio.ImageSpec(16384, 16384, 3, oiio.HALF)  # a header only: no pixels are read
    huge.tile_width = huge.tile_height = 64
    path = str(tmp_path / "huge.exr")
    output = oiio.ImageOutput.create(path)
    assert output.open(path, huge)
    output.close()
    with pytest.raises(MediaError, match=r"huge.exr is 16384x16384 \(268 megapixels.*over the engine's limit of 67"):
        check_readable(read_image_info(path))


def test_chromaticities_name_the_plate_space_or_are_refused(tmp_path):
    import OpenImageIO as oiio

    from actanywhere.engine.media.image_read import chromaticities_space

    def with_chromaticities(name, values):
        spec = oiio.ImageSpec(4, 4, 3, oiio.HALF)
        spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), values)
        return _header_of(tmp_path, name, spec)

    assert chromaticities_space(with_chromaticities("xyz.exr", (1, 0, 0, 1, 0, 0, 1 / 3, 1 / 3))) == "lin_ciexyzd65_scene"
    assert chromaticities_space(with_chromaticities("ap1.exr", (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168,
                                                                0.33767))) == "lin_ap1_scene"
    with pytest.raises(MediaError, match="set colour.plate_colourspace"):
        chromaticities_space(with_chromaticities("odd.exr", (0.7, 0.3, 0.2, 0.7, 0.1, 0.1, 0.3, 0.3)))
    assert chromaticities_space(_header_of(tmp_path, "plain.exr", oiio.ImageSpec(4, 4, 3, oiio.HALF))) is None


def test_a_symbolic_link_loop_is_named_as_such_not_as_missing(tmp_path):
    from actanywhere.engine.media.sequence_read import check_sequence
    from actanywhere.engine.sequence import FrameSequence

    os.symlink(str(tmp_path / "p.0002.exr"), str(tmp_path / "p.0001.exr"))
    os.symlink(str(tmp_path / "p.0001.exr"), str(tmp_path / "p.0002.exr"))
    with pytest.raises(MediaError, match=r"frame 1: .*p.0001.exr is a symbolic link that leads to no file \(a loop"):
        check_sequence(FrameSequence.parse(str(tmp_path / "p.####.exr")), [1, 2])
    with pytest.raises(MediaError, match="symbolic link that leads to no file"):
        read_image(str(tmp_path / "p.0001.exr"))


def test_a_matte_in_another_part_of_a_multi_part_file_is_found(tmp_path):
    path = str(tmp_path / "multi.exr")
    beauty = oiio.ImageSpec(8, 6, 3, oiio.HALF)
    beauty.channelnames = ("R", "G", "B")
    beauty.attribute("name", "rgba")
    matte = oiio.ImageSpec(8, 6, 1, oiio.HALF)
    matte.channelnames = ("A",)
    matte.attribute("name", "matte")
    output = oiio.ImageOutput.create(path)
    assert output.open(path, (beauty, matte))
    output.write_image(np.zeros((6, 8, 3), np.float32))
    assert output.open(path, matte, "AppendSubimage")
    values = np.zeros((6, 8, 1), np.float32)
    values[2:4, 3:6] = 1.0
    output.write_image(values)
    output.close()
    info = read_image_info(path)
    assert info.channel_names == ("R", "G", "B") and info.other_parts == (("matte", ("A",)),)
    for channel in ("A", "matte.A"):
        np.testing.assert_array_equal(read_matte(path, channel), values[..., 0])
    with pytest.raises(MediaError, match=r"no channel 'mask' for the matte; its channels are R, G, B; part matte: A"):
        read_matte(path, "mask")


def test_nan_in_the_rgb_of_an_rgba_file_stays_out_of_its_alpha(tmp_path):
    """The alpha of a file whose RGB holds NaN is read as it is (a matte kept in the plate's alpha is
    usable), and the plate itself is refused naming the count."""
    from actanywhere.engine.media.exr_write import write_exr

    pixels = np.zeros((4, 4, 4), np.float32)
    pixels[..., 3] = 1.0
    pixels[1, 1, 0] = np.nan
    path = str(tmp_path / "nan.exr")
    write_exr(path, pixels, ("R", "G", "B", "A"))
    assert (read_matte(path, "A") == 1.0).all()
    with pytest.raises(MediaError, match="has 1 NaN and 0 infinite pixel values"):
        read_image(path)
