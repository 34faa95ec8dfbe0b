"""The shot spec: round trips, inheritance from the config, relative paths, and clear errors."""
import json

import pytest
import yaml

from actanywhere.engine import config, shotspec
from actanywhere.engine.errors import ShotSpecError


@pytest.fixture
def studio():
    return config.load(environ={}).config


def minimal(**changes):
    data = {
        "shot": "sh010",
        "plate": "/shows/demo/sh010/plate/sh010_plate.%04d.exr",
        "matte": "/shows/demo/sh010/roto/sh010_matte.####.exr",
        "condition": "/shows/demo/sh010/ref/beach.png",
        "frames": "1001-1048",
    }
    data.update(changes)
    return data


def test_missing_settings_are_inherited_from_the_config(studio):
    spec = shotspec.resolve(minimal(sampler={"steps": 7}), studio)
    assert spec.sampler.steps == 7
    assert spec.sampler.scheduler == studio.sampler.scheduler
    assert spec.model == studio.models.default_profile
    assert spec.output.template == studio.output.template
    assert spec.seeds == [0]


def test_yaml_and_json_round_trip_keep_everything(studio, tmp_path):
    spec = shotspec.resolve(minimal(sampler={"seed": 5, "variants": 3}), studio)
    assert spec.seeds == [5, 6, 7]
    for name in ("spec.yaml", "spec.json"):
        path = str(tmp_path / name)
        spec.save(path)
        again = shotspec.load(path, studio)
        assert again == spec
        assert again.spec_hash() == spec.spec_hash()
    assert json.loads(spec.to_json())["schema_version"] == shotspec.SHOT_SPEC_VERSION
    assert yaml.safe_load(spec.to_yaml())["frames"] == "1001-1048"


def test_hash_changes_with_anything_that_decides_the_result(studio):
    base = shotspec.resolve(minimal(), studio)
    assert shotspec.resolve(minimal(sampler={"seed": 1}), studio).spec_hash() != base.spec_hash()
    assert shotspec.resolve(minimal(frames="1001-1047"), studio).spec_hash() != base.spec_hash()


def test_relative_paths_resolve_against_the_spec_file(studio, tmp_path):
    path = tmp_path / "sh010.yaml"
    path.write_text(yaml.safe_dump(minimal(plate="plate/p.####.exr", output={"template": "out/{version}/x_{pass}.####.exr"})))
    spec = shotspec.load(str(path), studio)
    assert spec.plate == (tmp_path / "plate" / "p.####.exr").as_posix()
    assert spec.output.template == (tmp_path / "out" / "{version}" / "x_{pass}.####.exr").as_posix()


def test_frames_are_kept_in_canonical_form_and_found_on_disk_when_absent(studio, tmp_path):
    spec = shotspec.resolve(minimal(frames="1001-1010, 1012"), studio)
    assert spec.frames == "1001-1010,1012"
    for frame in (1001, 1002, 1003):
        (tmp_path / ("p.%04d.exr" % frame)).write_bytes(b"")
    spec = shotspec.resolve(minimal(frames=None, plate=str(tmp_path / "p.####.exr")), studio)
    assert list(spec.frame_range()) == [1001, 1002, 1003]


def test_a_plate_with_a_hole_and_no_frames_given_is_refused_not_published_with_the_hole(studio, tmp_path):
    for frame in (1001, 1002, 1005, 1006):
        (tmp_path / ("p.%04d.exr" % frame)).write_bytes(b"")
    spec = shotspec.resolve(minimal(frames=None, plate=str(tmp_path / "p.####.exr")), studio)
    with pytest.raises(ShotSpecError) as raised:
        spec.frame_range()
    assert "missing frames 1003-1004 inside its range 1001-1006" in str(raised.value)
    assert "give frames to skip them (e.g. 1001-1002,1005-1006)" in str(raised.value)
    given = shotspec.resolve(minimal(frames="1001-1002,1005-1006", plate=str(tmp_path / "p.####.exr")), studio)
    assert list(given.frame_range()) == [1001, 1002, 1005, 1006]  # skipping them on purpose
    for frame in (2001, 2003, 2005):  # a plate rendered on 2s has no hole
        (tmp_path / ("q.%04d.exr" % frame)).write_bytes(b"")
    stepped = shotspec.resolve(minimal(frames=None, plate=str(tmp_path / "q.####.exr")), studio)
    assert list(stepped.frame_range()) == [2001, 2003, 2005]


def test_no_plate_frames_on_disk_is_an_error(studio, tmp_path):
    spec = shotspec.resolve(minimal(frames=None, plate=str(tmp_path / "p.####.exr")), studio)
    with pytest.raises(ShotSpecError, match=r"plate: no frames found for .*p\.####\.exr"):
        spec.frame_range()


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"shot": "sh 010"}, "shot name 'sh 010' may hold only letters"),
        ({"frames": "1001-abc"}, "frames: cannot read the frame range '1001-abc'"),
        ({"sampler": {"steps": -1}}, "sampler.steps: -1 is below the minimum 0"),
        ({"sampler": {"scheduler": "euler"}}, "sampler.scheduler: 'euler' is not allowed"),
        ({"model": "sd3"}, "model: profile 'sd3' is not configured; known profiles: tiny"),
        ({"colour": {"plate": "ACEScg"}}, "colour.plate: unknown key"),
        ({"schema_version": 9}, "schema_version 9 is not supported by this engine"),
        ({"output": {"template": "/out/x.####.exr"}}, "output.template: '/out/x.####.exr': {version} must name a folder"),
        ({"output": {"template": "/out/{version}/x_{pass}.exr"}}, "the file name has no frame token"),
        ({"output": {"template": "/out/{version}/{0}_{pass}.####.exr"}}, "{0} is not a token"),
        ({"output": {"template": "/out/{version}/x.####.exr"}}, "it has no {pass} token below the {version} folder"),
        ({"plate": None}, "plate: expected a string, got None"),
        # JSON and YAML read 1e999 as inf, which passes every bound and would never dispatch (issue 16)
        ({"output": {"fps": float("inf")}}, "output.fps: expected a finite number, got inf"),
        ({"tiling": {"refine_strength": float("nan")}}, "tiling.refine_strength: expected a finite number, got nan"),
    ],
)
def test_bad_specs_name_the_field(studio, changes, expected):
    with pytest.raises(ShotSpecError) as caught:
        shotspec.resolve(minimal(**changes), studio, source="sh010.yaml")
    assert str(caught.value).startswith("sh010.yaml: ")
    assert expected in str(caught.value)


def test_required_fields_are_named(studio):
    data = minimal()
    del data["condition"]
    with pytest.raises(ShotSpecError, match=r"condition: is required \(condition image"):
        shotspec.resolve(data, studio)
