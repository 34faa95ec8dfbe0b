"""Run Python in a fresh interpreter where importing some top-level packages fails, as they are
missing from Nuke's Python: the proof that contract and plugin modules do not need them."""
import subprocess
import sys
import textwrap

REFUSER = textwrap.dedent(
    """
    import importlib, importlib.abc, sys
    FORBIDDEN = set(%r)

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ImportError("refused in this test: " + name)
            return None

    sys.meta_path.insert(0, Refuse())
    """
)


def run_refusing(forbidden, body):
    """Run `body` after installing the refusal of `forbidden`; returns the finished process."""
    script = REFUSER % (sorted(forbidden),) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


def assert_imports_without(modules, forbidden, extra_body=""):
    """Import every module of `modules` with `forbidden` refused, run `extra_body`, and check that no
    forbidden package got loaded."""
    body = "\n".join([
        "for module in %r:" % (list(modules),),
        "    importlib.import_module(module)",
        textwrap.dedent(extra_body),
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in FORBIDDEN)",
        "assert not loaded, loaded",
        "print('ok')",
    ])
    finished = run_refusing(forbidden, body)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "ok"
