"""Export through the adapter and the fake nuke: a Roto matte and a plate Read become EXR Writes (or the
Read is used as is), TCL and %04d paths are evaluated, 1001-based ranges with handles are kept."""
import threading

import pytest

from actanywhere.engine.sequence import FrameRange
from actanywhere.plugin import export, frames
from fake_nuke import make_comp, snapshot


def test_plain_exr_read_is_used_as_is_and_the_roto_is_rendered(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    before = snapshot([plate, roto])
    result = adapter.run_export(node)

    assert result.reused == {"plate": True, "matte": False}
    assert result.plate == "/shows/demo/sh010/plate/sh010_plate.%04d.exr"
    assert result.matte == "/shows/demo/sh010/comp/actanywhere/ActAnywhere1/matte/ActAnywhere1_matte.%04d.exr"
    assert result.matte_channel == "A" and str(result.frames) == "1001-1004"
    assert result.plate_colourspace == "Linear Rec.709 (sRGB)"  # nuke-default "linear", named for OCIO
    assert nuke.state.executions == [("Write1", 1001, 1004, 1)]
    # the temporary Crop and Write are gone; the artist's nodes are untouched
    assert sorted(n.Class() for n in nuke.allNodes()) == ["Group", "Read", "Roto"]
    assert set(nuke.state.deleted) == {"Crop1", "Write1"}
    assert snapshot([plate, roto]) == before


def test_write_settings_for_plate_and_matte(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter, plate_file="/shows/demo/sh010/plate/sh010_plate.####.dpx")
    plate.fake_channels = list(fake_channels())
    seen = {}
    nuke.state.render_hook = _record(seen)
    result = adapter.run_export(node)
    assert result.reused == {"plate": False, "matte": False}
    plate_write, matte_write = seen["Write1"], seen["Write2"]
    assert plate_write["file"] == "/shows/demo/sh010/comp/actanywhere/ActAnywhere1/plate/ActAnywhere1_plate.%04d.exr"
    assert plate_write["file_type"] == "exr" and plate_write["channels"] == "rgb"
    assert plate_write["datatype"] == "16 bit half" and plate_write["compression"] == "Zip (1 scanline)"
    assert plate_write["colorspace"] == "linear" and plate_write["raw"] is False
    assert plate_write["create_directories"] is True and plate_write["use_limit"] is True
    assert matte_write["channels"] == "alpha" and matte_write["raw"] is True
    assert result.plate == plate_write["file"]
    # the crop box is the format: the EXR data window is cropped to it
    assert seen["crop_boxes"] == [[0, 0, 64, 36], [0, 0, 64, 36]]


def fake_channels():
    return ["rgba.red", "rgba.green", "rgba.blue"]


def _record(seen):
    def hook(write, frame):
        if write.name() not in seen:
            seen[write.name()] = {name: write[name].value() for name in (
                "file", "file_type", "channels", "datatype", "compression", "colorspace", "raw",
                "create_directories", "use_limit")}
            seen.setdefault("crop_boxes", []).append(list(write.input(0)["box"].value()))
    return hook


def test_tcl_export_folder_and_relative_paths_resolve_like_nuke(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter, script="/jobs/show/sh020/comp/sh020_v003.nk")
    node["export_dir"].setValue("[file dirname [value root.name]]/../aa_export/[file rootname [file tail [value root.name]]]")
    node["shot"].setValue("sh020")
    result = adapter.run_export(node)
    assert result.matte == "/jobs/show/sh020/aa_export/sh020_v003/sh020/matte/sh020_matte.%04d.exr"

    nuke.root()["project_directory"].setValue("/jobs/show/sh020")
    node["export_dir"].setValue("relative/exports")
    assert adapter.run_export(node).matte == "/jobs/show/sh020/relative/exports/sh020/matte/sh020_matte.%04d.exr"


def test_hashes_and_printf_reads_are_both_reused(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter, plate_file="/plates/sh010.####.exr")
    assert adapter.run_export(node).plate == "/plates/sh010.####.exr"
    plate["file"].setValue("/plates/sh010.%04d.exr")
    assert adapter.run_export(node).plate == "/plates/sh010.%04d.exr"
    plate["file"].setValue("[value root.project_directory]/sh010.%04d.exr")
    nuke.root()["project_directory"].setValue("/plates")
    assert adapter.run_export(node).plate == "/plates/sh010.%04d.exr"


def test_handles_and_ranges_keep_frame_numbers(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter, first=993, last=1108)
    nuke.root()["first_frame"].setValue(1001)
    nuke.root()["last_frame"].setValue(1100)
    node["frame_range_mode"].setValue("root")
    node["handles"].setValue(8)
    result = adapter.run_export(node)
    assert str(result.frames) == "993-1108" and result.reused["plate"]
    assert nuke.state.executions[-1][1:] == (993, 1108, 1)

    node["frame_range_mode"].setValue("custom")
    node["frame_range"].setValue("1001-1011x5")
    node["handles"].setValue(0)
    assert str(adapter.run_export(node).frames) == "1001-1011x5"
    assert nuke.state.executions[-1][1:] == (1001, 1011, 5)

    node["frame_range_mode"].setValue("input")
    node["handles"].setValue(10)
    with pytest.raises(frames.FrameChoiceError, match="beyond the plate input's 993-1108"):
        adapter.run_export(node)


def test_matte_from_another_channel_is_copied_into_alpha(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    roto["output"].setValue("rgba")
    node["matte_channel"].setValue("rgba.red")
    created = []
    nuke.state.render_hook = lambda write, frame: created.append(
        (write.input(0).Class(), write.input(0).input(0).Class(), write.input(0).input(0)["from0"].value()))
    result = adapter.run_export(node)
    assert created[0] == ("Crop", "Copy", "rgba.red") and result.matte_channel == "A"

    node["matte_channel"].setValue("mask.a")
    with pytest.raises(export.ExportError, match="has no channel mask.a"):
        adapter.run_export(node)


def test_condition_from_an_input_is_rendered_at_its_frame(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    condition = nuke.nodes.Constant(first=1, last=100)
    node.setInput(2, condition)
    node["condition_source"].setValue("input")
    node["condition_frame"].setValue(42)
    result = adapter.run_export(node)
    assert result.condition.endswith("/ActAnywhere1/condition/ActAnywhere1_condition.%04d.exr")
    assert result.condition_frame == 42
    assert ("Write2", 42, 42, 1) in nuke.state.executions


def test_missing_inputs_and_unsaved_scripts_say_what_to_do(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    node.setInput(1, None)
    adapter.on_export(node)
    assert "connect the matte input (input 1)" in nuke.state.messages[-1]
    assert node["status"].value().startswith("ActAnywhere: connect the matte input")


def test_the_fake_refuses_unknown_knobs_and_work_off_the_main_thread(nuke):
    with pytest.raises(NameError):
        nuke.nodes.Write()["compresion"]
    with pytest.raises(NameError):
        nuke.nodes.Merge2(mode="over")
    errors = []
    thread = threading.Thread(target=lambda: _capture(errors, lambda: nuke.nodes.Read()))
    thread.start()
    thread.join()
    assert errors and "off the main thread" in str(errors[0])


def _capture(errors, function):
    try:
        function()
    except RuntimeError as error:
        errors.append(error)


def test_export_plan_is_plain_data():
    root = export.RootInfo(name="/s/c.nk", colour_management="OCIO", working_space="ACES - ACEScg")
    plate = export.SourceInfo("Grade1", "Grade", first=1001, last=1010, channels=["rgba.red"], width=10, height=8)
    matte = export.SourceInfo("Read2", "Read", file="/m/m.%04d.exr", file_type="exr", first=1001, last=1010,
                              channels=["rgba.alpha"], width=10, height=8)
    plan = export.plan_export("sh1", "/exp", FrameRange.parse("1001-1010"), plate, matte, "rgba.alpha", root)
    assert [node.node_class for node in plan.nodes] == ["Crop", "Write"]
    assert plan.nodes.node("plate_write").knobs["colorspace"] == "ACES - ACEScg"
    assert plan.plate_colourspace == "ACES - ACEScg" and plan.reused == {"plate": False, "matte": True}
    assert export.exr_channel("rgba.alpha") == "A" and export.exr_channel("mask.a") == "mask.a"
    assert export.safe_name("sh 010/comp") == "sh_010_comp"
