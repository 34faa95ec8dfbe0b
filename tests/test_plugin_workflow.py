"""What the node's buttons decide (plugin/workflow.py, collect.plan_history), tested as plain Python:
no Nuke and no fake of it. The adapter only reads the script into these inputs and carries out the answer."""
import json

import pytest

from actanywhere.engine import config as config_module, shotspec
from actanywhere.engine.sequence import FrameRange
from actanywhere.plugin import collect, workflow
from actanywhere.plugin.export import ExportError, ExportResult, RootInfo, SourceInfo
from actanywhere.plugin.node_knobs import NodeSettings
from test_plugin_collect import engine_results, history

SAVED = RootInfo(name="/shows/demo/sh010/comp/sh010_comp_v001.nk")


def exported(reused_plate=True, reused_matte=False):
    return ExportResult("/s/p.%04d.exr", "/s/m.%04d.exr", "A", "/s/c.exr", None, FrameRange.parse("1001-1004"),
                        "ACEScg", {"plate": reused_plate, "matte": reused_matte})


@pytest.mark.parametrize("root, proxy, views, plate_file, purpose, problem", [
    (RootInfo(name=""), False, 1, "", "export", "save the script first: the exported plate and matte go beside it"),
    (RootInfo(name="Root"), False, 1, "", "farm", "save the script first: the farm opens it to export the inputs"),
    (SAVED, True, 1, "", "export", "switch proxy mode off"),
    (SAVED, False, 2, "/p/plate_%V.%04d.exr", "export", r"stereo sequence \(%V in /p/plate_%V.%04d.exr\)"),
])
def test_scripts_the_export_cannot_serve_are_refused_with_what_to_do(root, proxy, views, plate_file, purpose, problem):
    with pytest.raises(ExportError, match=problem):
        workflow.check_exportable(root, proxy, views, plate_file, purpose)


def test_a_saved_full_resolution_mono_script_exports():
    workflow.check_exportable(SAVED, False, 1, "/p/plate.%04d.exr")
    workflow.check_exportable(SAVED, False, 2, "/p/plate_left.%04d.exr")  # views, but the plate is one eye


@pytest.mark.parametrize("management, environ, name, custom, expected", [
    ("Nuke", {"OCIO": "/studio/aces.ocio"}, "custom", "/x.ocio", ""),
    ("OCIO", {"OCIO": "/studio/aces.ocio"}, "custom", "/x.ocio", "/studio/aces.ocio"),
    ("OCIO", {}, "custom", "/shows/demo/config.ocio", "/shows/demo/config.ocio"),
    ("OCIO", {}, "cg-config-v2.1.0_aces-v1.3_ocio-v2.3", "", "ocio://cg-config-v2.1.0_aces-v1.3_ocio-v2.3"),
    ("OCIO", {}, "nuke-default", "", ""),
])
def test_the_ocio_config_is_resolved_as_deadline_clouds_submitter_does(management, environ, name, custom, expected):
    assert workflow.ocio_config(management, environ, name, custom) == expected


def test_the_farm_gets_an_export_step_only_when_an_input_must_be_rendered():
    assert workflow.farm_export_request(exported(True, True), SAVED.name, "ActAnywhere1") is None
    request = workflow.farm_export_request(exported(True, False), SAVED.name, "Comp.ActAnywhere1")
    assert (request["script"], request["node"], request["frames"]) == (SAVED.name, "Comp.ActAnywhere1", "1001-1004")
    assert request["command"][1:2] == ["-t"] and request["command"][-2:] == ["--frames", "1001-1004"]
    assert workflow.farm_backend(NodeSettings(), "openjd") == "openjd"
    assert workflow.farm_backend(NodeSettings(farm_backend="local"), "openjd") == "local"


def test_a_history_entry_keeps_what_collect_needs():
    spec = shotspec.resolve({"shot": "sh010", "plate": "/s/p.%04d.exr", "matte": "/s/m.%04d.exr",
                             "condition": "/s/c.exr", "frames": "1001-1004", "sampler": {"seed": 5, "variants": 2},
                             "output": {"template": "/o/{version}/{shot}_{pass}_{version}.####.exr"}},
                            config_module.load(environ={}).config)
    plate = SourceInfo(name="Comp.Read1", node_class="Read", colourspace="ACES - ACEScg", width=1920, height=1080)
    colourspace = workflow.nuke_colourspace(plate, exported(reused_plate=True), "scene_linear")
    entry = workflow.history_entry(spec, exported(), NodeSettings(matte_channel="rgba.alpha"), "farm:local", plate,
                                   "Comp.Roto1", colourspace, [{"task_id": "sh010-v01-abc", "seed": 5}], "farm-7",
                                   now=0)
    assert entry["seeds"] == [5, 6] and entry["tasks"] == [{"task_id": "sh010-v01-abc", "seed": 5}]
    assert (entry["job_id"], entry["destination"], entry["plate_node"], entry["matte_node"]) == (
        "farm-7", "farm:local", "Comp.Read1", "Comp.Roto1")
    assert (entry["nuke_colourspace"], entry["width"], entry["height"]) == ("ACES - ACEScg", 1920, 1080)
    assert entry["matte_file_channel"] == "rgba.alpha"  # the exported matte holds it in alpha
    assert entry["output_template"] == "/o/{version}/{shot}_{pass}_{version}.####.exr"
    json.dumps(entry)  # the node keeps it as JSON
    # A plate that had to be rendered is read back in the working space the export wrote.
    assert workflow.nuke_colourspace(plate, exported(reused_plate=False), "scene_linear") == "scene_linear"


def test_plan_history_places_each_new_version_once_and_reads_files_when_the_nodes_are_gone():
    entries = json.loads(history("/r", engine_results("/r", versions=(1, 2))))
    twice = entries + [dict(entries[0], job_id="sh010-job2")]  # a second entry naming the same versions
    plan = collect.plan_history(twice, {"Read1"}, [], (100, 0), "black", lambda name: True)
    reads = plan.of_class("Read")
    assert len(reads) == 2 and len(plan.of_class("Merge2")) == 2
    assert len({planned.name for planned in plan}) == len(list(plan))  # no name taken twice

    already = collect.plan_history(entries, set(), ["/r/out/v001/sh010_bg_v001.%04d.exr"], (0, 0), "black",
                                   lambda name: True)
    assert len(already.of_class("Read")) == 1  # v001 is in the script already

    gone = collect.plan_history(entries, set(), [], (0, 0), "black", lambda name: False)
    files = sorted(planned.knobs.get("file", "") for planned in gone.of_class("Read"))
    assert "/shows/demo/sh010/plate/sh010_plate.%04d.exr" in files  # the subject from the job's own files
