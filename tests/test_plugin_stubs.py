"""The Nuke API the plugin and its fake use, checked against Foundry's stubs (types-nuke, in the test
environment): a `nuke.X` the adapter calls, or a Node or Knob method the fake offers, that real Nuke lacks
fails here instead of in a compositor's session."""
import ast
import importlib.metadata
import os

import fake_nuke

ADAPTER = os.path.join(os.path.dirname(__file__), "..", "plugin", "nuke_adapter.py")
# The fake's own test hooks, not Nuke API.
FAKE_ONLY = {"press", "reset", "install", "uninstall", "run_main_queue", "evaluate_tcl", "state", "NukeState",
             "make_comp", "snapshot", "nuke", "adapter"}


def stubs():
    """(module-level names, {class: method names with its bases'}) of the nuke stubs."""
    init = next(f for f in importlib.metadata.files("types-nuke") if str(f).endswith("nuke-stubs/__init__.pyi"))
    folder = os.path.dirname(str(init.locate()))
    names, classes, bases = set(), {}, {}
    for file_name in os.listdir(folder):
        if not file_name.endswith(".pyi"):
            continue
        with open(os.path.join(folder, file_name)) as stream:
            tree = ast.parse(stream.read())
        for item in tree.body:
            if isinstance(item, (ast.FunctionDef, ast.ClassDef)):
                names.add(item.name)
            elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                names.update(target.id for target in targets if isinstance(target, ast.Name))
            if isinstance(item, ast.ClassDef):
                classes[item.name] = {child.name for child in item.body if isinstance(child, ast.FunctionDef)}
                bases[item.name] = [base.id for base in item.bases if isinstance(base, ast.Name)]

    def methods(name):
        found = set(classes.get(name, ()))
        for base in bases.get(name, ()):
            found |= methods(base)
        return found

    return names, {name: methods(name) for name in classes}


def test_every_nuke_attribute_the_adapter_uses_is_in_nuke():
    names, _ = stubs()
    with open(ADAPTER) as stream:
        tree = ast.parse(stream.read())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "nuke"}
    assert used and not sorted(used - names), "not in Nuke's API: %s" % sorted(used - names)


def test_the_fake_offers_only_what_nuke_has():
    names, methods = stubs()
    public = {name for name in vars(fake_nuke) if not name.startswith("_") and name not in FAKE_ONLY}
    # functions and classes, and flag constants (the fake's own tables of knobs and defaults are not API)
    module_level = {name for name in public if callable(getattr(fake_nuke, name))
                    or (name.isupper() and isinstance(getattr(fake_nuke, name), int))}
    imported = {"os", "re", "sys", "threading", "types", "importlib", "pytest"}
    extra = sorted(module_level - names - imported - {"Knob", "Node", "Menu"})
    assert not extra, "the fake's nuke module has names Nuke lacks: %s" % extra
    node_methods = methods["Node"] | methods["Group"] | methods["Root"]
    fake_node = {name for name in vars(fake_nuke.Node) if not name.startswith("_")} | {"__enter__", "__exit__"}
    assert not sorted(fake_node - node_methods), "fake Node methods Nuke lacks: %s" % sorted(fake_node - node_methods)
    knob_methods = set().union(*(found for name, found in methods.items() if name.endswith("Knob")))
    fake_knob = {name for name in vars(fake_nuke.Knob) if not name.startswith("_")}
    assert not sorted(fake_knob - knob_methods), "fake Knob methods Nuke lacks: %s" % sorted(fake_knob - knob_methods)


def test_mypy_checks_the_adapter_against_the_stubs_clean():
    """Every call into `nuke` type-checks against types-nuke; each ignore in the adapter says why on its line."""
    import subprocess
    import sys

    finished = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports", "--check-untyped-defs",
         "--no-incremental", "--warn-unused-ignores", ADAPTER], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    with open(ADAPTER) as stream:
        ignores = [line for line in stream if "type: ignore" in line]
    assert ignores and all(line.split("type: ignore", 1)[1].count("#") >= 1 for line in ignores), ignores


def test_mypy_does_catch_a_nuke_call_the_stubs_lack(tmp_path):
    """Guard against a check that cannot fail."""
    import subprocess
    import sys

    wrong = tmp_path / "wrong.py"
    wrong.write_text("import nuke\nnuke.createNodeTree('Group')\nnuke.root()['name'].evaluateTwice()\n")
    finished = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", str(wrong)], capture_output=True,
                              text=True)
    assert finished.returncode == 1 and 'has no attribute "createNodeTree"' in finished.stdout, finished.stdout
