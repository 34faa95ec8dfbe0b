"""Issue 17: the two wheels this tree builds (setup.py, pyproject.toml). `actanywhere` carries everything,
the tiny weights and the demo data included; `actanywhere-nuke` (ACTANYWHERE_DIST=nuke) is what a TD
installs into Nuke 13-16 with `pip install --target` (docs/nuke.md): the same `actanywhere.*` packages and
PyYAML and pyzmq, no weights or demo data, Python 3.7 and up.

The wheels are built from a copy of the tree (so the checkout's build/ and egg-info stay out of it) the
way docs/nuke.md says, with pip's build isolation (pip fetches setuptools and wheel as ./dev setup does)."""
import email.parser
import importlib.metadata
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

from import_guard import REFUSER

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ["setup.py", "pyproject.toml", "engine", "plugin", "farm", "config"]
# The demo shot's folder (setup.py's `demo/**`); a stand-in, whether or not the tree has one.
DEMO_FILE = "engine/demo/sh010/sh010_plate.1001.exr"
FORBIDDEN = ["torch", "diffusers", "transformers", "OpenImageIO", "numpy", "opentimelineio", "cv2", "PIL"]
LIGHT_LIMIT = 2 * 1024 * 1024


def _build(tree: pathlib.Path, out: pathlib.Path, dist):
    environ = {key: value for key, value in os.environ.items() if key != "ACTANYWHERE_DIST"}
    if dist:
        environ["ACTANYWHERE_DIST"] = dist
    finished = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."],
                              cwd=str(tree), env=environ, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    base = tmp_path_factory.mktemp("packaging")
    tree = base / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(str(source), str(tree / name), ignore=ignore)
        else:
            tree.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(source), str(tree / name))
    (tree / DEMO_FILE).parent.mkdir(parents=True, exist_ok=True)
    (tree / DEMO_FILE).write_bytes(b"a stand-in for the demo shot's data")
    # The full wheel first, in the same tree: the light one must not pick up its leftovers in build/.
    full = _build(tree, base / "full", None)
    light = _build(tree, base / "nuke", "nuke")
    return {"tree": tree, "full": full, "light": light}


def _names(wheel):
    with zipfile.ZipFile(str(wheel)) as archive:
        return archive.namelist()


def _dist_info(wheel, name):
    with zipfile.ZipFile(str(wheel)) as archive:
        member = next(n for n in archive.namelist() if n.split("/")[0].endswith(".dist-info") and n.endswith("/" + name))
        return archive.read(member).decode("utf-8")


def _modules(names):
    return sorted(n for n in names if n.endswith(".py") and not n.startswith("actanywhere/engine/model/weights/"))


@pytest.mark.slow
def test_the_light_wheel_has_no_weights_or_demo_data_and_is_small(wheels):
    light = wheels["light"]
    assert light.name == "actanywhere_nuke-0.1.0-py3-none-any.whl"
    names = _names(light)
    assert not [n for n in names if n.endswith(".safetensors")]
    assert not [n for n in names if n.startswith(("actanywhere/engine/demo/", "actanywhere/engine/model/weights/"))]
    assert light.stat().st_size < LIGHT_LIMIT, light.stat().st_size
    # Everything else the plugin and the contract need: the same packages as the full wheel, and their data.
    assert _modules(names) == _modules(_names(wheels["full"]))
    assert {"actanywhere/config/default.yaml", "actanywhere/plugin/nuke_path/init.py",
            "actanywhere/plugin/nuke_path/menu.py", "actanywhere/engine/shotspec.py"} <= set(names)
    assert not [n for n in names if n.split("/")[0] not in ("actanywhere", "actanywhere_nuke-0.1.0.dist-info")]


@pytest.mark.slow
def test_the_light_wheels_metadata(wheels):
    metadata = email.parser.Parser().parsestr(_dist_info(wheels["light"], "METADATA"))
    assert metadata["Name"] == "actanywhere-nuke" and metadata["Requires-Python"] == ">=3.7"
    assert sorted(metadata.get_all("Requires-Dist")) == ["PyYAML>=5.1", "pyzmq>=22"]
    assert metadata.get_all("Provides-Extra") is None
    entry_points = _dist_info(wheels["light"], "entry_points.txt")
    assert "[actanywhere.extensions]\nfarm = actanywhere.farm.extension:EXTENSION" in entry_points
    assert "console_scripts" not in entry_points


@pytest.mark.slow
def test_the_full_wheel_carries_the_weights_and_the_demo_data(wheels):
    full = wheels["full"]
    assert full.name == "actanywhere-0.1.0-py3-none-any.whl"
    names = set(_names(full))
    weights = wheels["tree"] / "engine" / "model" / "weights"
    expected = {"actanywhere/" + path.relative_to(wheels["tree"]).as_posix()
                for path in weights.rglob("*") if path.is_file()}
    assert [n for n in expected if n.endswith(".safetensors")] and expected <= names
    assert "actanywhere/" + DEMO_FILE in names
    metadata = email.parser.Parser().parsestr(_dist_info(full, "METADATA"))
    assert metadata["Name"] == "actanywhere" and metadata["Requires-Python"] == ">=3.7"
    assert "engine" in metadata.get_all("Provides-Extra")
    entry_points = _dist_info(full, "entry_points.txt")
    assert "actanywhere = actanywhere.engine.cli:main" in entry_points
    assert "farm = actanywhere.farm.extension:EXTENSION" in entry_points


def _only_pyyaml_and_pyzmq(folder: pathlib.Path) -> pathlib.Path:
    """A folder holding links to the venv's PyYAML and pyzmq (and their dist-info) and nothing else: not
    the venv's site-packages, whose editable `actanywhere` would answer the imports and entry points."""
    folder.mkdir()
    for distribution in ("PyYAML", "pyzmq"):
        files = importlib.metadata.distribution(distribution).files
        tops = {pathlib.PurePath(str(path)).parts[0] for path in files}
        for top in sorted(tops - {".."}):
            source = pathlib.Path(str(importlib.metadata.distribution(distribution).locate_file(top)))
            if source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source, target_is_directory=source.is_dir())
    return folder


@pytest.mark.slow
def test_the_light_wheel_installs_with_pip_target_and_runs_the_contract_without_heavy_packages(wheels, tmp_path):
    target = tmp_path / "py311"
    finished = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--no-index",
                               "--target", str(target), str(wheels["light"])], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert (target / "actanywhere" / "plugin" / "nuke_path" / "init.py").is_file()
    assert not (target / "bin").exists()  # no console script in Nuke's folder
    deps = _only_pyyaml_and_pyzmq(tmp_path / "deps")
    body = textwrap.dedent("""
        sys.path[:0] = [%r, %r]
        from importlib import metadata
        from actanywhere.engine import client, config, extensions, shotspec
        assert config.__file__.startswith(sys.path[0]), config.__file__
        # The farm's section through the entry point of the installed wheel's metadata: before anything
        # of the plugin is imported (plugin/__init__.py registers the farm by hand, for Python 3.7).
        found = [(e.name, e.value, e.dist.name) for e in extensions._entry_points()]
        assert found == [("farm", "actanywhere.farm.extension:EXTENSION", "actanywhere-nuke")], found
        assert metadata.distribution("actanywhere-nuke").requires == ["PyYAML>=5.1", "pyzmq>=22"]
        assert "actanywhere.plugin" not in sys.modules and "actanywhere.farm" not in sys.modules
        assert config.load(environ={}).config.farm.backend == "local"
        from actanywhere.plugin import node_knobs, shot_from_node
        import yaml, zmq
        assert yaml.__file__.startswith(sys.path[1]) and zmq.__file__.startswith(sys.path[1])
        assert config.load(environ={}).config.farm.backend == "local"
        loaded = sorted(name for name in sys.modules if name.split('.')[0] in FORBIDDEN)
        assert not loaded, loaded
        print("ok")
        """) % (str(target), str(deps))
    # -I -S: no site-packages, no .pth files (the editable install's finder), no PYTHON* variables.
    finished = subprocess.run([sys.executable, "-I", "-S", "-c", REFUSER % (sorted(FORBIDDEN),) + body],
                              capture_output=True, text=True, cwd=str(tmp_path))
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "ok"


def _python_3_7():
    """Nuke 13's Python version: on PATH, or pyenv's; None when this machine has none."""
    pyenv = sorted(pathlib.Path(os.path.expanduser("~/.pyenv/versions")).glob("3.7.*/bin/python3.7"))
    for candidate in [str(path) for path in pyenv[::-1]] + [shutil.which("python3.7")]:
        # a pyenv shim is on PATH whether or not it can run 3.7: ask it
        if candidate and subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 7)"],
                                        capture_output=True).returncode == 0:
            return candidate
    return None


@pytest.mark.slow
@pytest.mark.skipif(_python_3_7() is None, reason="no Python 3.7 here (Nuke 13's): the syntax checks still run")
def test_nuke_13s_python_3_7_installs_the_light_wheel_and_runs_the_panels_contract(wheels, tmp_path):
    """Python 3.7 has no importlib.metadata: the config's farm section must come from plugin/__init__.py's
    own registration, and every contract and pure plugin module must import and run."""
    python = _python_3_7()
    target = tmp_path / "py37"
    finished = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--target", str(target), str(wheels["light"])], capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    body = textwrap.dedent("""
        sys.path[:0] = [%r]
        from actanywhere.engine import config, extensions, shotspec
        assert sys.version_info[:2] == (3, 7) and not extensions._entry_points()
        from actanywhere.plugin import collect, node_knobs, published, shot_from_node, workflow
        resolved = config.load(environ={})
        assert resolved.config.farm.backend == "local"
        spec = shotspec.resolve({"shot": "sh010", "plate": "/s/p.####.exr", "matte": "/s/m.####.exr",
                                 "condition": "/s/c.png", "frames": "1001-1004"}, resolved.config)
        assert shotspec.from_resolved(spec.to_data()) == spec and spec.sampler.steps == 0
        loaded = sorted(name for name in sys.modules if name.split('.')[0] in FORBIDDEN)
        assert not loaded, loaded
        print("ok")
        """) % (str(target),)
    finished = subprocess.run([python, "-I", "-S", "-c", REFUSER % (sorted(FORBIDDEN),) + body],
                              capture_output=True, text=True, cwd=str(tmp_path))
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "ok"
