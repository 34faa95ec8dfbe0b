"""The contract modules import in a Python that has no torch, diffusers, OpenImageIO or numpy, as
Nuke's Python has none of them. Each heavy import is made to fail in a fresh interpreter."""
import subprocess
import sys
import textwrap

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
    script = textwrap.dedent(
        """
        import importlib.abc, sys
        FORBIDDEN = set(%r)

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in FORBIDDEN:
                    raise ImportError("refused in this test: " + name)
                return None

        sys.meta_path.insert(0, Refuse())
        for module in %r:
            importlib.import_module(module)
        from actanywhere.engine import config, shotspec
        spec = shotspec.from_data(
            {"shot": "sh010", "plate": "/p.####.exr", "matte": "/m.####.exr", "condition": "/c.png", "frames": "1-8"},
            config.load(environ={}).config,
        )
        assert spec.spec_hash()
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in FORBIDDEN)
        assert not loaded, loaded
        print("ok")
        """
    ) % (FORBIDDEN, CONTRACT_MODULES)
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "ok"


def test_the_refusal_really_refuses():
    """Guard against a test that cannot fail: the same hook does stop an engine-side import."""
    script = textwrap.dedent(
        """
        import importlib.abc, sys
        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "torch":
                    raise ImportError("refused in this test: " + name)
        sys.meta_path.insert(0, Refuse())
        import torch
        """
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert finished.returncode != 0
    assert "refused in this test: torch" in finished.stderr
