"""The plugin as a TD installs it: imports without Nuke's missing packages, Python 3.7 syntax, init.py
and menu.py on NUKE_PATH, the node's knobs, farm submission and the headless export step."""
import ast
import glob
import json
import os
import runpy
import sys

import pytest

from actanywhere.plugin import farm_export, farm_submit, node_knobs
from fake_nuke import make_comp
from import_guard import assert_imports_without

PLUGIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugin")
PURE_MODULES = sorted("actanywhere.plugin." + os.path.basename(path)[:-3]
                      for path in glob.glob(os.path.join(PLUGIN, "*.py"))
                      if os.path.basename(path) not in ("__init__.py", "nuke_adapter.py"))
FORBIDDEN = ["torch", "diffusers", "transformers", "OpenImageIO", "numpy", "opentimelineio", "pydantic", "nuke",
             "nukescripts", "PySide2", "PySide6"]


def test_pure_plugin_modules_import_without_heavy_packages_or_nuke():
    assert "actanywhere.plugin.collect" in PURE_MODULES and len(PURE_MODULES) >= 12
    assert_imports_without(PURE_MODULES, FORBIDDEN)


def plugin_sources():
    return sorted(glob.glob(os.path.join(PLUGIN, "**", "*.py"), recursive=True))


@pytest.mark.parametrize("path", plugin_sources(), ids=lambda path: os.path.relpath(path, PLUGIN))
def test_python_3_7_syntax_and_only_the_adapter_imports_nuke(path):
    with open(path) as stream:
        source = stream.read()
    tree = ast.parse(source, path, feature_version=(3, 7))  # no walrus, no match, no positional-only
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    if os.path.basename(path) != "nuke_adapter.py":
        assert not imported & {"nuke", "nukescripts"}, path
    if os.path.basename(path) not in ("init.py", "menu.py", "farm_export.py", "__init__.py"):
        assert "from __future__ import annotations" in source, path


def test_knobs_are_lowercase_with_tooltips_and_a_first_tab():
    assert node_knobs.KNOBS[0].kind == "tab"
    for knob in node_knobs.KNOBS:
        assert knob.name == knob.name.lower() and " " not in knob.name, knob.name
        assert knob.tooltip.strip(), knob.name
    assert len(set(node_knobs.knob_names())) == len(node_knobs.KNOBS)


def test_engine_info_updates_profiles_and_ranges():
    info = {"profiles": {"tiny": {}, "sd15": {}},
            "parameters": {"sampler": {"steps": {"minimum": 0, "maximum": 200, "default": 0},
                                       "scheduler": {"choices": ["ddim", "dpmsolver++"], "default": "ddim"}},
                           "tiling": {"refine_strength": {"minimum": 0.0, "maximum": 1.0}}}}
    updates = node_knobs.engine_knob_updates(info)
    assert updates["model"]["values"] == ["default", "sd15", "tiny"]
    assert updates["steps"] == {"minimum": 0, "maximum": 200}
    assert updates["scheduler"]["values"] == ["ddim", "dpmsolver++"]
    assert node_knobs.clamp("steps", 500, updates) == 200 and node_knobs.clamp("model", "gone", updates) == "default"


def test_the_node_is_a_group_with_inputs_and_its_knobs(nuke, adapter):
    node = adapter.create_node()
    assert node.Class() == "Group" and [n.name() for n in node.nodes()][:3] == ["plate", "matte", "condition"]
    for spec in node_knobs.KNOBS:
        assert node.knob(spec.name).tooltip() == spec.tooltip
    assert node["export_dir"].value() == node_knobs.DEFAULT_EXPORT_DIR
    assert node["job_history"].getFlag(nuke.INVISIBLE)
    node["frame_range_mode"].setValue("root")
    adapter.on_knob_changed(node, node["frame_range_mode"])
    assert not node["frame_range"].enabled()
    settings = adapter.read_settings(node)
    assert settings.steps == 0 and settings.guidance == 0.0 and settings.model == "default" and settings.node_name == "ActAnywhere1"


def test_init_py_adds_the_configured_paths_without_building_ui(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.setenv("ACTANYWHERE_PYTHONPATH", os.pathsep.join([str(first), str(second)]))
    before = list(sys.path)
    try:
        runpy.run_path(os.path.join(PLUGIN, "nuke_path", "init.py"))
        assert sys.path[-2:] == [str(first), str(second)]
        assert "nuke" not in sys.modules
    finally:
        sys.path[:] = before


def test_menu_py_installs_the_menu_and_survives_a_broken_install(nuke, capsys, monkeypatch):
    runpy.run_path(os.path.join(PLUGIN, "nuke_path", "menu.py"))
    assert "ActAnywhere" in nuke.menu("Nodes").items and "Collect selected" in nuke.menu("Nuke").items["ActAnywhere"].items

    def broken(name):
        raise RuntimeError("a broken install")

    monkeypatch.setattr(nuke, "menu", broken)
    runpy.run_path(os.path.join(PLUGIN, "nuke_path", "menu.py"))
    error = capsys.readouterr().err
    assert "Traceback" in error and "Nuke starts without it" in error


def test_submit_to_farm_without_a_farm_package_says_so(nuke, adapter, monkeypatch):
    plate, roto, node = make_comp(nuke, adapter)
    monkeypatch.setattr(farm_submit, "FARM_MODULE", "actanywhere.farm_not_installed")
    monkeypatch.setattr(farm_submit.find_submitter, "__defaults__", ("actanywhere.farm_not_installed",))
    assert adapter.on_submit_farm(node) is None
    assert "the farm backend is not installed" in nuke.state.messages[-1]
    assert nuke.state.executions == []  # nothing rendered for a job that was never sent


def test_submit_to_farm_keeps_the_job_id_and_sends_the_export_step(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    sent = {}

    def submitter(spec_data, export=None, backend=None):
        sent.update(spec=spec_data, export=export, backend=backend)
        return "farm-job-42"

    assert adapter.on_submit_farm(node, submitter=submitter) == "farm-job-42"
    assert node["farm_job_id"].value() == "farm-job-42"
    assert sent["backend"] == "local" and sent["spec"]["frames"] == "1001-1004"
    assert sent["export"]["node"] == "ActAnywhere1" and sent["export"]["command"][1:2] == ["-t"]
    assert sent["export"]["command"][-6:] == ["--script", "/shows/demo/sh010/comp/sh010_comp_v001.nk",
                                              "--node", "ActAnywhere1", "--frames", "1001-1004"]
    assert nuke.state.executions == []  # the farm renders the export, not this Nuke
    history = json.loads(node["job_history"].value())
    assert history[-1]["job_id"] == "farm-job-42" and history[-1]["destination"] == "farm:local"


def test_headless_export_for_the_farm(nuke, adapter, capsys):
    plate, roto, node = make_comp(nuke, adapter)
    assert farm_export.main(["--script", "", "--node", "ActAnywhere1", "--frames", "1002-1003"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["frames"] == "1002-1003" and printed["matte"].endswith("/ActAnywhere1_matte.%04d.exr")
    assert nuke.state.executions == [("Write1", 1002, 1003, 1)]
    assert farm_export.main(["--script", "/s/c.nk", "--node", "Nope", "--frames", "1001"]) == 2
    assert "no ActAnywhere node named Nope" in capsys.readouterr().err


def test_headless_export_maps_the_scripts_paths_for_the_worker(nuke, adapter, capsys, tmp_path):
    """Issue 17: the script holds workstation paths; the farm's export gives nuke -t the job's path
    mapping and a filename filter maps what the script reads and writes, and the script's own path."""
    plate, roto, node = make_comp(nuke, adapter)
    node["export_dir"].setValue("/shows/demo/sh010/actanywhere")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [["/shows", "/mnt/shows"]]}))
    assert farm_export.main(["--script", "/shows/demo/comp.nk", "--node", "ActAnywhere1", "--frames", "1002-1003",
                             "--path-mapping", str(rules)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert nuke.state.opened_scripts == ["/mnt/shows/demo/comp.nk"]
    assert printed["matte"].startswith("/mnt/shows/demo/sh010/actanywhere/"), printed
