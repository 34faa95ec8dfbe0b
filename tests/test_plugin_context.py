"""The buttons as Nuke runs them: a PyScript button on the ActAnywhere Group runs inside that Group, so
nuke.nodes.X, toNode and allNodes act there (Foundry: "the current group"). Collect and export must still
make their nodes beside the node, in the group that holds it, wired to the artist's nodes."""
import json

from fake_nuke import make_comp
from test_plugin_collect import engine_results, history


def test_collect_pressed_inside_the_group_builds_beside_the_node(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    node["job_history"].setValue(history("/r", engine_results("/r")))
    nuke.press(node, "collect")
    top = {n.name() for n in nuke.allNodes()}
    assert {"AA_sh010_v001_bg", "AA_sh010_v002_bg", "AA_sh010_v001_comp"} <= top  # beside the node, not in it
    inside = {n.name() for n in node.nodes()}
    assert not any(name.startswith("AA_") for name in inside)
    copy = nuke.toNode("AA_sh010_subject")
    assert copy.input(0) is plate and copy.input(1) is roto  # wired to the artist's nodes across no group
    assert node["status"].value().startswith("collected 2")


def test_an_actanywhere_node_inside_a_group_collects_into_that_group(nuke, adapter):
    with nuke.nodes.Group(name="Comp") as group:
        plate, roto, node = make_comp(nuke, adapter)
    node["job_history"].setValue(history("/r", engine_results("/r", versions=(1,))))
    nuke.press(node, "collect")
    assert "AA_sh010_v001_bg" in {n.name() for n in group.nodes()}
    assert "AA_sh010_v001_bg" not in {n.name() for n in nuke.allNodes()} and node.fullName() == "Comp.ActAnywhere1"


def test_export_pressed_inside_the_group_renders_from_the_parent(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    nuke.press(node, "export_inputs")
    assert node["status"].value().startswith("exported"), node["status"].value()
    assert not [n for n in node.nodes() if n.Class() in ("Write", "Crop", "Copy")]  # nothing built inside it
    assert all(n.Class() != "Write" for n in nuke.allNodes())  # the temporary nodes are removed again
    assert nuke.state.executions  # and the Write did render


def test_the_history_survives_a_press_from_inside(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    node["job_history"].setValue(history("/r", engine_results("/r", versions=(1,))))
    nuke.press(node, "collect")
    nuke.press(node, "collect")  # nothing new the second time
    assert len([n for n in nuke.allNodes("Read")]) == 2 and json.loads(node["job_history"].value())


def test_main_thread_calls_behave_as_in_nuke_and_errors_still_reach_the_caller(nuke, adapter):
    """Nuke's executeInMainThreadWithResult hangs when called from the main thread and, for a call that
    raises, prints the traceback and returns None: the fake does the same, and the adapter still hands
    the error to the background thread that asked."""
    import threading

    import pytest

    with pytest.raises(RuntimeError, match="hangs Nuke"):
        nuke.executeInMainThreadWithResult(lambda: 1)
    outcome = {}

    def background():
        try:
            adapter.NukeMainThread().call_and_wait(lambda: 1 / 0)
        except ZeroDivisionError as error:
            outcome["error"] = error

    thread = threading.Thread(target=background)
    thread.start()
    while thread.is_alive():
        nuke.run_main_queue()
        thread.join(0.01)
    assert isinstance(outcome.get("error"), ZeroDivisionError)


def test_the_fake_refuses_what_nuke_refuses_on_built_in_knobs(nuke):
    """Enumeration knobs of built-in nodes take Nuke's own values only, and a Write's EXR knobs appear
    once its file_type is exr: the export's Write (tests/test_plugin_export.py) passes through both."""
    import pytest

    write = nuke.nodes.Write()
    with pytest.raises(NameError, match="once file_type is exr"):
        write["compression"]
    write["file_type"].setValue("exr")
    with pytest.raises(ValueError, match="has no value 'zip'"):
        write["compression"].setValue("zip")
    write["compression"].setValue("Zip (1 scanline)")
    with pytest.raises(ValueError, match="on_error has no value 'skip'"):
        nuke.nodes.Read()["on_error"].setValue("skip")


def test_export_and_generate_of_an_unsaved_script_ask_to_save_it(nuke, adapter):
    """Nuke evaluates the default export folder of an unsaved script to "." (its working directory):
    exports there would be lost to the engine and the farm, so export and generate refuse first."""
    plate, roto, node = make_comp(nuke, adapter)
    nuke.root()["name"].setValue("")
    assert nuke.evaluate_tcl("[file dirname [value root.name]]") == "."
    nuke.press(node, "export_inputs")
    assert "save the script first" in node["status"].value()
    assert adapter.on_generate(node, client_factory=lambda: None) is None
    assert "save the script first" in node["status"].value() and not nuke.state.executions


def test_the_matte_channel_knob_picks_one_channel(nuke, adapter):
    node = adapter.create_node()
    assert node["matte_channel"].depth() == 1  # a single-channel picker, not a layer with checkboxes


def test_proxy_mode_and_a_stereo_plate_are_refused_with_what_to_do(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    nuke.root()["proxy"].setValue(True)
    nuke.press(node, "export_inputs")
    assert "switch proxy mode off" in node["status"].value()
    nuke.root()["proxy"].setValue(False)
    nuke.state.views = ["left", "right"]
    plate["file"].setValue("/shows/demo/sh010/plate/sh010_plate_%V.%04d.exr")
    nuke.press(node, "export_inputs")
    assert "stereo sequence" in node["status"].value() and not nuke.state.executions


def test_the_ocio_config_is_resolved_as_nuke_resolves_it(nuke, adapter, monkeypatch):
    """Issue 17: $OCIO first, then the root's custom path evaluated, then a stock config OCIO ships."""
    root = nuke.root()
    root["colorManagement"].setValue("OCIO")
    root["OCIO_config"].setValue("custom")
    root["customOCIOConfigPath"].setValue("[file dirname [value root.name]]/config.ocio")
    monkeypatch.delenv("OCIO", raising=False)
    root["name"].setValue("/shows/demo/comp/sh010.nk")
    assert adapter.root_info().ocio_config == "/shows/demo/comp/config.ocio"  # evaluated, not the TCL
    monkeypatch.setenv("OCIO", "/studio/ocio/config.ocio")
    assert adapter.root_info().ocio_config == "/studio/ocio/config.ocio"
    monkeypatch.delenv("OCIO")
    root["OCIO_config"].setValue("cg-config-v2.1.0_aces-v1.3_ocio-v2.3")
    assert adapter.root_info().ocio_config == "ocio://cg-config-v2.1.0_aces-v1.3_ocio-v2.3"
    root["OCIO_config"].setValue("nuke-default")
    assert adapter.root_info().ocio_config == ""
