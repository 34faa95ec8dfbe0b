"""The .nk text of a Collect, checked against golden files and read back with nkparser: classes,
knob values and wiring. Set UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change.

nkparser lists a node's inputs top of stack last; Nuke makes the top of the stack input 0 (a pasted
gizmo joins input 0 to the selected node, which the clipboard pushes last), so input i of a node is
`inputs[-1 - i]` in nkparser's list."""
import os

import nkparser
import pytest

from actanywhere.plugin import collect, nk_snippet
from actanywhere.engine.outputs import PublishedVersion

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def two_version_plan():
    versions = [PublishedVersion("sh010", version, 6 + version, "1001-1048",
                                 {"bg": "/shows/demo/sh010/actanywhere/out/v%03d/sh010_bg_v%03d.####.exr" % (version, version)},
                                 job_id="sh010-4f2a")
                for version in (1, 2)]
    subject = collect.SubjectSource("Read1", "Roto1", "rgba.alpha",
                                    plate_file="/shows/demo/sh010/plate/sh010_plate.%04d.exr",
                                    matte_file="/shows/demo/sh010/actanywhere/sh010/matte/sh010_matte.%04d.exr",
                                    first=1001, last=1048, plate_colourspace="ACES - ACEScg")
    return collect.plan_collect(versions, subject, "ACES - ACEScg", "black", origin=(0, 0), width=1920, height=1080,
                                standalone=True)


def check_golden(name, text):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("UPDATE_GOLDEN"):
        with open(path, "w") as stream:
            stream.write(text)
    with open(path) as stream:
        assert text == stream.read(), "%s changed; rerun with UPDATE_GOLDEN=1 if that was meant" % name


def nuke_input(node, index):
    return node.inputs[-1 - index]


@pytest.mark.parametrize("golden, root", [
    ("collect_snippet.nk", None),
    ("collect_script.nk", nk_snippet.RootSettings("/shows/demo/sh010/comp/sh010_comp_v001.nk", 1001, 1048,
                                                  "1920 1080 0 0 1920 1080 1 HD_1080",
                                                  {"colorManagement": "OCIO", "workingSpaceLUT": "ACES - ACEScg"})),
])
def test_collect_nk_matches_golden_and_parses(golden, root):
    text = nk_snippet.render(two_version_plan(), root)
    check_golden(golden, text)
    script = nkparser.Script.from_string(text)
    diagnostics = [(d.code, d.message) for d in script.diagnostics]
    if root is None:
        assert diagnostics == [("missing-root", "Script has no Root node")]  # a clipboard snippet has none
    else:
        assert diagnostics == []
        assert script.root().get("last_frame") == "1048"

    nodes = {node.name: node for node in script.all_nodes() if node.class_name != "Root"}
    assert [node.class_name for node in script.all_nodes() if node.class_name != "Root"] == [
        "Read", "Read", "Copy", "Premult", "Read", "Merge2", "Read", "Merge2"]
    plate, matte = nodes["AA_sh010_plate_source"], nodes["AA_sh010_matte_source"]
    copy, premult = nodes["AA_sh010_subject"], nodes["AA_sh010_subject_premult"]
    assert nuke_input(copy, 0) is plate and nuke_input(copy, 1) is matte
    assert premult.inputs == [copy]
    for version, seed in (("v001", 7), ("v002", 8)):
        read, merge = nodes["AA_sh010_%s_bg" % version], nodes["AA_sh010_%s_comp" % version]
        assert read.get("file") == "/shows/demo/sh010/actanywhere/out/%s/sh010_bg_%s.%%04d.exr" % (version, version)
        assert (read.get("first"), read.get("last"), read.get("origset")) == ("1001", "1048", "true")
        assert read.knob("colorspace").string_value == "ACES - ACEScg"
        assert read.get("on_error") == "black"
        assert read.knob("label").string_value == "job sh010-4f2a\n%s seed %d" % (version, seed)
        assert read.knob("format").string_value == "1920 1080 0 0 1920 1080 1"
        assert merge.get("operation") == "over" and merge.get("inputs") == "2"
        assert nuke_input(merge, 0) is read and nuke_input(merge, 1) is premult
    assert matte.get("raw") == "true" and copy.get("from0") == "rgba.alpha" and copy.get("to0") == "rgba.alpha"


def test_snippets_refuse_nodes_outside_them():
    plan = collect.plan_collect(two_version_plan_versions(), collect.SubjectSource("Read1", "Roto1", "rgba.alpha"),
                                "linear")
    with pytest.raises(ValueError, match="holds only its own nodes"):
        nk_snippet.render(plan)


def two_version_plan_versions():
    return [PublishedVersion("sh010", 1, 1, "1001", {"bg": "/o/sh010_bg_v001.####.exr"}, job_id="j")]


def test_knob_text_quotes_what_needs_quoting():
    assert nk_snippet.knob_text("Zip (1 scanline)") == '"Zip (1 scanline)"'
    assert nk_snippet.knob_text("/a/b.%04d.exr") == "/a/b.%04d.exr"
    assert nk_snippet.knob_text('say "[x]" $y') == '"say \\"\\[x]\\" \\$y"'
    assert nk_snippet.knob_text([0, 0, 64, 36]) == "{0 0 64 36}"
    assert nk_snippet.knob_text(True) == "true" and nk_snippet.knob_text(0.5) == "0.5"
