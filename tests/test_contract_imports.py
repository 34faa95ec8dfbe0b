"""The contract modules import in a Python that has no torch, diffusers, OpenImageIO or numpy, as
Nuke's Python has none of them. Each heavy import is made to fail in a fresh interpreter."""
from import_guard import assert_imports_without, run_refusing

CONTRACT_MODULES = [
    "actanywhere.engine.shotspec",
    "actanywhere.engine.config",
    "actanywhere.engine.sequence",
    "actanywhere.engine.settings",
    "actanywhere.engine.progress",
    "actanywhere.engine.errors",
    "actanywhere.engine.protocol",
    "actanywhere.engine.client",
]
FORBIDDEN = ["torch", "diffusers", "transformers", "OpenImageIO", "numpy", "opentimelineio", "pydantic"]


def test_contract_modules_import_without_heavy_packages():
    assert_imports_without(CONTRACT_MODULES, FORBIDDEN, """
        from actanywhere.engine import config, shotspec
        spec = shotspec.resolve(
            {"shot": "sh010", "plate": "/p.####.exr", "matte": "/m.####.exr", "condition": "/c.png", "frames": "1-8"},
            config.load(environ={}).config,
        )
        assert spec.spec_hash()
        """)


def test_the_refusal_really_refuses():
    """Guard against a test that cannot fail: the same hook does stop an engine-side import."""
    finished = run_refusing(["torch"], "import torch")
    assert finished.returncode != 0
    assert "refused in this test: torch" in finished.stderr
