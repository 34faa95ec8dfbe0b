"""The exactly-once invariant, with a publish killed before each of its file operations in turn
(tests/publish_faults.py dies there as abruptly as SIGKILL):

- every visible version is complete: its record, every frame of every pass and its .otio files read;
- no key (farm task or engine job) has two versions;
- the retry succeeds, publishes the key's one version, and reuses the dead claim's number.
"""
import os
import subprocess
import sys


from actanywhere.engine.media import read_image
from actanywhere.engine.outputs import OutputTemplate, published_versions, read_otio, read_record
from publish_faults import FRAMES, PASSES, publish

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 7


def run(template, key, *mode):
    return subprocess.run([sys.executable, os.path.join(HERE, "publish_faults.py"), template, key, str(SEED)] + list(mode),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)


def visible_version_folders(parent):
    return sorted(name for name in os.listdir(parent) if not name.startswith(".")) if os.path.isdir(parent) else []


def assert_every_visible_version_is_whole(template, parent):
    for name in visible_version_folders(parent):
        record = read_record(os.path.join(parent, name))  # a visible version without its record fails here
        assert record.version_name == name and record.frames == "1001-1003"
        for pass_name in PASSES:
            clip = read_otio(record.otio_paths[pass_name])
            assert list(clip["frames"]) == list(FRAMES)
            for frame in FRAMES:
                pixels, _ = read_image(record.sequences[pass_name].replace("####", "%04d" % frame))
                assert pixels[0, 0, 0] == frame + SEED


def test_a_publish_killed_at_any_step_leaves_a_whole_version_or_none_and_the_retry_publishes_once(tmp_path):
    listing = run(str(tmp_path / "probe" / "{version}" / "{shot}_{pass}_{version}.####.exr"), "probe", "--list")
    assert listing.returncode == 0, listing.stdout
    steps = listing.stdout.splitlines()[:-1]
    # every kind of file operation of a publish is covered
    assert set(steps) == {"write claim", "claim", "write frame", "write otio", "write record", "rename into place",
                          "after rename"}, steps
    for number, step in enumerate(steps, start=1):
        root = tmp_path / ("kill%02d" % number)
        template = str(root / "{version}" / "{shot}_{pass}_{version}.####.exr")
        parsed = OutputTemplate.parse(template)
        # one version published before, by another task: untouched whatever happens next
        assert publish(template, "other-task", SEED).version == 1
        killed = run(template, "task-a", "--die-at", str(number))
        assert killed.returncode == 137, "killed before %s (#%d): %s" % (step, number, killed.stdout)
        assert_every_visible_version_is_whole(template, str(root))
        assert len([v for v in published_versions(parsed, "sh010", SEED) if v.key == "task-a"]) <= 1, step

        retry = publish(template, "task-a", SEED)  # the farm or the engine retries the work
        assert_every_visible_version_is_whole(template, str(root))
        mine = [v for v in published_versions(parsed, "sh010", SEED) if v.key == "task-a"]
        assert [v.version for v in mine] == [retry.version] == [2], \
            "killed before %s (#%d): versions %s" % (step, number, visible_version_folders(str(root)))
        assert publish(template, "task-a", SEED).version == 2  # and once more: still the one version
        assert visible_version_folders(str(root)) == ["v001", "v002"]
        leftovers = [name for name in os.listdir(str(root)) if name.startswith(".") and name.endswith(".staging")]
        assert leftovers == [], "killed before %s: a dead claim was not reclaimed" % step
