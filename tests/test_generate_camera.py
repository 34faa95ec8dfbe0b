"""generate and track with the plate's camera: the track in the EXR header, the cache, a handed-in
track file, a locked-off shot, and a cut that stops the shot before anything is written."""
import json
import os

import numpy as np
import OpenImageIO as oiio
import pytest
import yaml

from actanywhere.engine.camera.track import CameraTrack
from actanywhere.engine.cli import main
from actanywhere.engine.media.exr_write import write_exr
from engine_support import make_shot, published_frames, spec_data


@pytest.fixture
def shot(tmp_path):
    return make_shot(tmp_path / "shot")


def write_spec(shot, name="shot.yaml", **extra):
    path = os.path.join(shot, name)
    with open(path, "w") as stream:
        yaml.safe_dump(spec_data(shot, **extra), stream)
    return path


def header(path):
    spec = oiio.ImageInput.open(path).spec()
    return {attribute.name: attribute.value for attribute in spec.extra_attribs}


def cache_files():
    folder = os.path.join(os.environ["ACTANYWHERE_CACHE"], "tracks")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_generate_tracks_the_plate_records_the_track_and_reuses_the_cache(shot, capsys):
    before = cache_files()
    assert main(["generate", write_spec(shot), "--quiet"]) == 0
    assert "camera: tracked from the plate; reference 1, tracked 3" in capsys.readouterr().err
    added = sorted(set(cache_files()) - set(before))
    assert len(added) == 1
    track = json.loads(header(os.path.join(shot, "out", "v001", "sh010_bg_v001.1001.exr"))["actanywhere/camera_track"])
    assert track["reference_frame"] == 1001 and track["flags"] == {"reference": 1, "tracked": 3}
    assert 2.5 < track["largest_offset_px"] < 3.5  # the plate pans one pixel a frame
    interaction = json.loads(header(os.path.join(shot, "out", "v001", "sh010_bg_v001.1001.exr"))["actanywhere/interaction"])
    assert interaction == {"pass": True, "shadow_hint": True, "keep_condition": True}  # the shipped tiny profile
    assert main(["generate", write_spec(shot), "--quiet"]) == 0
    assert "camera: cache " in capsys.readouterr().err
    assert sorted(set(cache_files()) - set(before)) == added


def test_track_command_writes_json_and_nk_and_generate_takes_the_file(shot, capsys, tmp_path):
    out = str(tmp_path / "tracks" / "sh010_camera.json")
    assert main(["track", write_spec(shot, condition_frame=1003), "--track-out", out, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "reference frame 1003" in printed and out in printed
    track = CameraTrack.load(out)
    assert track.reference_frame == 1003 and track.frames == [1001, 1002, 1003, 1004]
    centre = track.reference_centre_path(64, 36)[:, 0]
    np.testing.assert_allclose(np.diff(centre), -1.0, atol=0.15)  # the world moves left a pixel a frame
    assert open(out[:-5] + ".nk").read().startswith("version 13.0 v1\nCornerPin2D {")
    assert main(["generate", write_spec(shot, track=out), "--quiet"]) == 0
    assert "camera: %s;" % out in capsys.readouterr().err


def test_a_cut_in_the_plate_stops_the_shot_before_anything_is_written(shot, capsys):
    rng = np.random.default_rng(42)
    write_exr(os.path.join(shot, "plate", "p.1003.exr"), rng.uniform(0, 0.8, (36, 64, 3)).astype(np.float32),
              ("R", "G", "B"), colourspace="ACEScg")
    assert main(["generate", write_spec(shot), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "frame 1003 does not continue frame 1002" in error and "Split the shot at frame 1003" in error
    assert published_frames(os.path.join(shot, "out")) == []
    # A TD who knows the camera is locked off says so, and the shot runs without tracking.
    assert main(["generate", write_spec(shot, camera={"track": "static"}), "--quiet"]) == 0
    assert "camera: static (camera.track)" in capsys.readouterr().err


def test_a_condition_frame_outside_the_range_is_refused(shot, capsys):
    assert main(["generate", write_spec(shot, condition_frame=990), "--quiet"]) == 2
    assert "condition_frame 990 is outside the shot's frames 1001-1004" in capsys.readouterr().err
    assert published_frames(os.path.join(shot, "out")) == []
