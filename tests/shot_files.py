"""Small real shots on disk for tests: a scene-linear EXR plate, an EXR roto matte whose data window
is the subject's bounding box (as Nuke writes it), and a condition image."""
import numpy as np
import OpenImageIO as oiio

from actanywhere.engine.media.exr_write import write_exr
from actanywhere.engine.media.window import Window


def write_png(path, pixels):
    height, width = pixels.shape[:2]
    buffer = oiio.ImageBuf(oiio.ImageSpec(width, height, 3, oiio.UINT8))
    buffer.set_pixels(oiio.ROI(0, width, 0, height), (np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    assert buffer.write(path), buffer.geterror()


def panning_plates(rng, count, width, height, pan=1):
    """`count` scene-linear plates of noise in [0, 0.8] that a camera pans across, `pan` pixels a frame to the
    right (the world moves left): a real camera move the tracker can follow, never a cut."""
    canvas = rng.uniform(0.0, 0.8, (height, width + pan * max(0, count - 1), 3)).astype(np.float32)
    return [np.ascontiguousarray(canvas[:, pan * index:pan * index + width]) for index in range(count)]


def write_shot(folder, frames, width, height, matte_for, seed=0, condition="cond.png"):
    """plate/p.####.exr (ACEScg), roto/m.####.exr (A, bounding-box data window) and the condition image
    (PNG, or an ACEScg EXR when `condition` ends in .exr) in `folder`; `matte_for(index)` draws a matte."""
    rng = np.random.default_rng(seed)
    (folder / "plate").mkdir()
    (folder / "roto").mkdir()
    plates = panning_plates(rng, len(frames), width, height)
    for index, frame in enumerate(frames):
        plate = plates[index]
        write_exr(str(folder / "plate" / ("p.%04d.exr" % frame)), plate, ("R", "G", "B"), colourspace="ACEScg")
        matte = matte_for(index)
        rows, columns = np.nonzero(matte)
        box = Window(int(columns.min()), int(rows.min()), int(np.ptp(columns) + 1), int(np.ptp(rows) + 1))
        write_exr(str(folder / "roto" / ("m.%04d.exr" % frame)), matte, ("A",), data_window=box)
    pixels = rng.uniform(0, 1, (height, width, 3)).astype(np.float32)
    if condition.endswith(".exr"):
        write_exr(str(folder / condition), pixels, ("R", "G", "B"), colourspace="ACEScg")
    else:
        write_png(str(folder / condition), pixels)
    return folder
