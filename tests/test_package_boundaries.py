"""The engine knows nothing of the farm: the farm adds its config section and commands through the
`actanywhere.extensions` entry point (engine/extensions.py), and no engine module imports it."""
import ast
import dataclasses
import pathlib
import subprocess
import sys

import pytest

from actanywhere.engine import config, extensions, schema
from actanywhere.engine.cli import build_parser
from actanywhere.engine.errors import ConfigError

ENGINE = pathlib.Path(__file__).resolve().parent.parent / "engine"


def test_importing_the_cli_imports_nothing_of_the_farm():
    finished = subprocess.run([sys.executable, "-X", "importtime", "-c", "import actanywhere.engine.cli"],
                              capture_output=True, text=True, check=True)
    imported = [line.rsplit("|", 1)[-1].strip() for line in finished.stderr.splitlines() if "|" in line]
    assert "actanywhere.engine.cli" in imported  # the check reads the real import list
    assert not [name for name in imported if name.startswith("actanywhere.farm")]


def _imported_modules(source: str, package: str):
    """Every module `source` (a module of `package`) imports, relative imports resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            yield ".".join(base + ([node.module] if node.module else []))


def _package_of(path: pathlib.Path) -> str:
    return "actanywhere." + ".".join(path.relative_to(ENGINE.parent).parts[:-1])


def test_no_engine_module_imports_the_farm():
    sources = sorted(ENGINE.rglob("*.py"))
    assert len(sources) > 50
    offenders = {str(path.relative_to(ENGINE)): name for path in sources
                 for name in _imported_modules(path.read_text(encoding="utf-8"), _package_of(path))
                 if name.startswith("actanywhere.farm")}
    assert not offenders


def test_the_import_scan_sees_farm_imports():
    """Guard against a scan that cannot fail: the imports it would have to catch."""
    source = "from ..farm.cli import run_farm_command\nfrom ...farm import submit_shot\nimport actanywhere.farm\n"
    assert list(_imported_modules(source, _package_of(ENGINE / "service" / "worker.py"))) == [
        "actanywhere.engine.farm.cli", "actanywhere.farm", "actanywhere.farm"]
    assert list(_imported_modules("from ..farm.cli import x\n", _package_of(ENGINE / "cli.py"))) == [
        "actanywhere.farm.cli"]


def test_the_farm_section_and_commands_come_from_its_entry_point():
    names = [extension.name for extension in extensions.installed()]
    assert "farm" in names
    assert config.load(environ={}).config.farm.backend == "local"
    arguments = build_parser().parse_args(["farm", "status", "somewhere"])
    assert extensions.for_command(arguments.command).name == "farm"


@dataclasses.dataclass
class ReviewSettings:
    reviewer: str = schema.setting("nobody", help="who reviews the plates")
    rounds: int = schema.setting(1, minimum=1, help="review rounds")


def test_a_further_package_adds_a_section_without_engine_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(extensions, "_registered", dict(extensions._registered))
    extensions.register(extensions.Extension(name="review", sections={"review": ReviewSettings}))
    layer = tmp_path / "studio.yaml"
    layer.write_text("review:\n  reviewer: sam\n")
    resolved = config.load([str(layer)], ["review.rounds=3"], environ={})
    assert (resolved.config.review.reviewer, resolved.config.review.rounds) == ("sam", 3)
    assert "reviewer: sam  # %s" % layer in resolved.to_yaml()
    assert config.build_config(config.config_data(resolved.config)).review.rounds == 3
    layer.write_text("review:\n  rounds: 0\n")
    with pytest.raises(ConfigError, match=r"studio.yaml: review.rounds: 0 is below the minimum 1"):
        config.load([str(layer)], environ={})


def test_an_unknown_section_names_every_known_one(tmp_path):
    layer = tmp_path / "studio.yaml"
    layer.write_text("farmm:\n  backend: local\n")
    with pytest.raises(ConfigError, match=r"farmm: unknown key; known keys here: .*engine, farm, models"):
        config.load([str(layer)], environ={})
    with pytest.raises(AttributeError, match="no section 'farmm'"):
        config.Config().farmm


class BrokenEntryPoint:
    name, value = "review", "mystudio.extension:EXTENSION"

    def load(self):
        raise ModuleNotFoundError("No module named 'mystudio'")


def test_a_broken_extension_is_named_with_what_to_do(monkeypatch):
    monkeypatch.setattr(extensions, "_registered", {})
    monkeypatch.setattr(extensions, "_discovered", False)
    monkeypatch.setattr(extensions, "_entry_points", lambda: [BrokenEntryPoint()])
    with pytest.raises(ConfigError, match=r"entry point review = mystudio.extension:EXTENSION \(group "
                                          r"actanywhere.extensions\) cannot be loaded \(ModuleNotFoundError"):
        extensions.installed()


# The tiled loop and its grid serve every backbone: they name no backbone's model code.
BACKBONE_NEUTRAL = ("model/blending.py", "model/shot_tensor.py", "model/tiled_sampler.py")
BACKBONE_MODULES = ("actanywhere.engine.model.pipeline", "actanywhere.engine.model.architecture",
                    "actanywhere.engine.model.unet_regions", "actanywhere.engine.model.refine",
                    "actanywhere.engine.model.backbones", "diffusers", "transformers")


def test_the_tiled_loop_names_no_backbone():
    offenders = {name: module for name in BACKBONE_NEUTRAL
                 for module in _imported_modules((ENGINE / name).read_text(encoding="utf-8"), _package_of(ENGINE / name))
                 if module.startswith(BACKBONE_MODULES)}
    assert not offenders
    # and the scan would see one
    assert list(_imported_modules("from .pipeline import Conditioning\n", _package_of(ENGINE / "model" / "x.py"))) == [
        "actanywhere.engine.model.pipeline"]
