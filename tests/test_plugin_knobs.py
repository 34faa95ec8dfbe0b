"""The node's knobs are declared once (plugin/node_knobs.py): a knob for a shot-spec key takes its
default, range, choices and tooltip from the settings schema, NodeSettings is made from the same list, and
every such knob reaches the spec through its spec path. Pure: no fake Nuke needed."""
import dataclasses

import pytest

from actanywhere.engine import config as config_module, shotspec
from actanywhere.engine.schema import setting
from actanywhere.engine.sequence import FrameRange
from actanywhere.engine.shotspec import ShotSpec
from actanywhere.plugin import node_knobs
from actanywhere.plugin.export import ExportResult
from actanywhere.plugin.node_knobs import KNOBS, NodeSettings, spec_knob
from actanywhere.plugin.shot_from_node import build_spec, spec_data

SPEC_KNOBS = [knob for knob in KNOBS if knob.spec_path]
EXPORTED = ExportResult("/s/p.%04d.exr", "/s/m.%04d.exr", "A", "/s/c.exr", None, FrameRange.parse("1-4"), "ACEScg", {})


def schema_field(path):
    section, key = path.split(".")
    section_type = type(getattr(ShotSpec(shot="s", plate="/p.####.exr", matte="/m.####.exr", condition="/c.png"),
                                section))
    return {item.name: item for item in dataclasses.fields(section_type)}[key]


def test_every_spec_knob_has_the_schemas_default_range_choices_and_help():
    assert {knob.spec_path for knob in SPEC_KNOBS} >= {
        "sampler.steps", "sampler.guidance", "sampler.scheduler", "sampler.seed", "sampler.variants",
        "sampler.prompt", "tiling.tile_size", "tiling.refine_strength", "camera.track"}
    for knob in SPEC_KNOBS:
        setting = schema_field(knob.spec_path)
        assert knob.default == setting.default, knob.name
        assert (knob.minimum, knob.maximum) == (setting.metadata["minimum"], setting.metadata["maximum"]), knob.name
        assert tuple(knob.values) == tuple(setting.metadata["choices"] or ()), knob.name
        assert knob.tooltip.lower().startswith(setting.metadata["help"].lower()), knob.name


@dataclasses.dataclass
class ReviewedSampler:
    variants: int = setting(2, minimum=1, maximum=8, help="versions per shot")


def test_a_knob_is_made_from_whatever_the_schema_says(monkeypatch):
    monkeypatch.setattr(node_knobs, "_section_type", lambda section: ReviewedSampler)
    knob = spec_knob("int", "variants", "variants", "sampler.variants", "Each becomes a Read.")
    assert (knob.default, knob.minimum, knob.maximum) == (2, 1, 8)
    assert knob.tooltip == "Versions per shot. Each becomes a Read."


def test_node_settings_has_one_typed_field_per_value_knob():
    names = [item.name for item in dataclasses.fields(NodeSettings)]
    value_knobs = [knob.name for knob in KNOBS if knob.kind not in ("tab", "text", "divider", "button", "multiline")]
    assert names == ["node_name"] + value_knobs + ["job_history"]
    kinds = {"int": "int", "double": "float", "bool": "bool"}
    for item in dataclasses.fields(NodeSettings):
        if item.name in node_knobs.KNOBS_BY_NAME and item.name != "job_history":  # parsed into a list
            knob = node_knobs.KNOBS_BY_NAME[item.name]
            assert (item.type, item.default) == (kinds.get(knob.kind, "str"), knob.default), item.name
    settings = NodeSettings.from_knob_values({"steps": "12", "guidance": 3, "seed": 7.0, "shot": " sh010 ",
                                             "bogus": 1}, node_name="AA1")
    assert (settings.steps, settings.guidance, settings.seed, settings.shot, settings.node_name) == (
        12, 3.0, 7, "sh010", "AA1")


def test_every_spec_knob_reaches_the_resolved_spec():
    chosen = {"steps": 12, "guidance": 2.5, "scheduler": "dpmsolver++", "seed": 42, "variants": 3,
              "prompt": "a beach at dusk", "tile_size": 320, "refine_strength": 0.25, "camera_track": "static"}
    assert set(chosen) == {knob.name for knob in SPEC_KNOBS}  # a new spec knob must be added here
    settings = dataclasses.replace(NodeSettings(), **chosen)
    spec = shotspec.resolve(spec_data(settings, EXPORTED, "/o/{version}/{shot}_{pass}_{version}.####.exr"),
                            config_module.load(environ={}).config)
    for knob in SPEC_KNOBS:
        section, key = knob.spec_path.split(".")
        assert getattr(getattr(spec, section), key) == chosen[knob.name], knob.name


def test_knobs_at_their_unset_value_leave_the_key_to_the_config(tmp_path):
    studio = tmp_path / "studio.yaml"
    studio.write_text("sampler:\n  steps: 17\n  guidance: 3.5\n  prompt: studio prompt\n"
                      "output:\n  template: /o/{version}/{shot}_{pass}_{version}.####.exr\n")
    resolved = config_module.load([str(studio)], environ={})
    spec = build_spec(NodeSettings(), EXPORTED, resolved, "/s/export")
    assert (spec.sampler.steps, spec.sampler.guidance, spec.sampler.prompt) == (17, 3.5, "studio prompt")
    spec = build_spec(dataclasses.replace(NodeSettings(), steps=4), EXPORTED, resolved, "/s/export")
    assert spec.sampler.steps == 4


def test_an_out_of_range_knob_is_refused_naming_the_key():
    with pytest.raises(shotspec.ShotSpecError, match=r"ActAnywhere node AA1: sampler.variants: 99 is above the maximum 64"):
        build_spec(dataclasses.replace(NodeSettings(node_name="AA1"), variants=99), EXPORTED,
                   config_module.load(environ={}), "/s/export")
