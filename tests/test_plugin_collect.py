"""Collect: Reads and Merges for finished versions, beside the source nodes, never touching the artist's
nodes; each job's versions found from its own records (engine results, or the version records that
name its engine job or farm tasks), one Read per version."""
import json

import numpy as np

from actanywhere.engine.media import VersionedOutput
from actanywhere.engine.outputs import PublishedVersion
from actanywhere.plugin import collect
from fake_nuke import make_comp, snapshot


def engine_results(root, versions=(1, 2), seed=7):
    return [{"seed": seed + index, "version": version, "version_name": "v%03d" % version,
             "sequences": {"bg": "%s/out/v%03d/sh010_bg_v%03d.####.exr" % (root, version, version),
                           "comp": "%s/out/v%03d/sh010_comp_v%03d.####.exr" % (root, version, version)},
             "otio_paths": {}} for index, version in enumerate(versions)]


def history(root, results, job_id="sh010-job1"):
    return json.dumps([{
        "job_id": job_id, "destination": "engine", "shot": "sh010", "frames": "1001-1004",
        "output_template": root + "/out/{version}/{shot}_{pass}_{version}.####.exr",
        "plate": "/shows/demo/sh010/plate/sh010_plate.%04d.exr", "matte": root + "/matte/m.%04d.exr",
        "matte_file_channel": "rgba.alpha", "plate_node": "Read1", "matte_node": "Roto1",
        "matte_channel": "rgba.alpha", "nuke_colourspace": "linear", "width": 64, "height": 36,
        "results": results}])


def test_collect_two_versions_adds_reads_and_merges_and_touches_nothing(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    grade = nuke.nodes.Merge2()  # an artist's node downstream of the plate
    grade.setInput(0, plate)
    node.setXYpos(100, 200)
    before = snapshot([plate, roto, grade, node])
    node["job_history"].setValue(history("/r", engine_results("/r")))
    before[node.name()][0]["job_history"] = node["job_history"].value()

    adapter.on_collect(node)
    after = snapshot([plate, roto, grade, node])
    after[node.name()][0].pop("status")  # the one knob Collect writes: on its own node
    before[node.name()][0].pop("status")
    reads = [read for read in nuke.allNodes("Read") if read is not plate]
    merges = [merge for merge in nuke.allNodes("Merge2") if merge is not grade]
    assert [read["file"].value() for read in reads] == ["/r/out/v001/sh010_bg_v001.%04d.exr",
                                                        "/r/out/v002/sh010_bg_v002.%04d.exr"]
    for read, seed, version in zip(reads, (7, 8), ("v001", "v002")):
        assert (read["first"].value(), read["last"].value()) == (1001, 1004)
        assert (read["origfirst"].value(), read["origlast"].value()) == (1001, 1004)
        assert read["colorspace"].value() == "linear" and read["on_error"].value() == "black"
        assert read["label"].value() == "job sh010-job1\n%s seed %d" % (version, seed)
        assert read.xpos() > node.xpos()
    subject = nuke.toNode("AA_sh010_subject")
    assert subject.Class() == "Copy" and subject.input(0) is plate and subject.input(1) is roto
    premult = nuke.toNode("AA_sh010_subject_premult")
    for merge, read in zip(merges, reads):
        assert merge["operation"].value() == "over"
        assert merge.input(0) is read and merge.input(1) is premult  # B: generated plate, A: subject
    assert after == before
    assert node["status"].value() == "collected 2 new version(s)"

    count = len(nuke.allNodes())
    adapter.on_collect(node)  # nothing new: nothing added
    assert len(nuke.allNodes()) == count and node["status"].value() == "nothing new to collect"

    node["job_history"].setValue(history("/r", engine_results("/r", versions=(1, 2, 3))))
    adapter.on_collect(node)  # a new version adds nodes and keeps the old
    assert [read.name() for read in nuke.allNodes("Read")][-1] == "AA_sh010_v003_bg"
    assert all(nuke.toNode(read.name()) for read in reads)
    assert nuke.toNode("AA_sh010_subject_2").input(0) is plate


def publish(template, seed, **record):
    """A version published the way the engine does it (a record naming who published it)."""
    with VersionedOutput(template, frames=range(1001, 1005), shot="sh010", passes=("bg", "comp"), seed=seed,
                         record=record) as out:
        for pass_name in ("bg", "comp"):
            for frame in range(1001, 1005):
                out.write_frame(pass_name, frame, np.zeros((4, 4, 3), np.float32), "RGB")
    return out.record


def farm_history(root, *jobs):
    entries = []
    for job_id, tasks in jobs:
        entry = json.loads(history(root, [], job_id=job_id))[0]
        entry.update(destination="farm:local", tasks=[{"task_id": task, "seed": seed} for task, seed in tasks])
        entries.append(entry)
    return json.dumps(entries)


def test_collect_finds_farm_versions_by_their_task_records(nuke, adapter, tmp_path):
    root = str(tmp_path).replace("\\", "/")
    template = root + "/out/{version}/{shot}_{pass}_{version}.####.exr"
    publish(template, 11, task_id="sh010-v00-aaa", job_id="sh010-v00-aaa.e1")
    publish(template, 12, task_id="sh010-v01-bbb")  # the same task ran twice: one version
    publish(template, 13, task_id="sh010-v00-other")  # another job's task in the same folder: not this job's
    plate, roto, node = make_comp(nuke, adapter)
    node["job_history"].setValue(farm_history(root, ("farm-9", [("sh010-v00-aaa", 11), ("sh010-v01-bbb", 12),
                                                               ("sh010-v02-ccc", 13)])))  # ccc: still rendering
    adapter.on_collect(node)
    assert [read.name() for read in nuke.allNodes("Read")][1:] == ["AA_sh010_v001_bg", "AA_sh010_v002_bg"]
    assert nuke.toNode("AA_sh010_v002_bg")["label"].value() == "job farm-9\nv002 seed 12"
    assert nuke.toNode("AA_sh010_v002_bg")["file"].value() == root + "/out/v002/sh010_bg_v002.%04d.exr"


def test_two_farm_submissions_of_one_shot_add_each_read_once(nuke, adapter, tmp_path):
    """The same shot submitted twice: the second job's tasks find the versions the first published
    (the same task ids), and Collect adds one Read per version, labelled with the job that made it."""
    root = str(tmp_path).replace("\\", "/")
    template = root + "/out/{version}/{shot}_{pass}_{version}.####.exr"
    publish(template, 11, task_id="sh010-v00-aaa")
    publish(template, 12, task_id="sh010-v01-bbb")
    tasks = [("sh010-v00-aaa", 11), ("sh010-v01-bbb", 12)]
    plate, roto, node = make_comp(nuke, adapter)
    node["job_history"].setValue(farm_history(root, ("farm-1", tasks), ("farm-2", tasks)))
    adapter.on_collect(node)
    reads = nuke.allNodes("Read")[1:]
    assert [read.name() for read in reads] == ["AA_sh010_v001_bg", "AA_sh010_v002_bg"]
    assert [read["label"].value().split("\n")[0] for read in reads] == ["job farm-1", "job farm-1"]
    assert len(nuke.allNodes("Merge2")) == 2
    adapter.on_collect(node)  # and again: nothing new
    assert len(nuke.allNodes("Read")) == 3


def test_collect_finds_an_engine_job_whose_result_never_came_back(nuke, adapter, tmp_path):
    root = str(tmp_path).replace("\\", "/")
    template = root + "/out/{version}/{shot}_{pass}_{version}.####.exr"
    publish(template, 7, job_id="sh010-job1")
    publish(template, 7, job_id="sh010-job0")  # an older job of the same shot and seed
    entry = json.loads(history(root, []))[0]
    entry["seeds"] = [7]
    plate, roto, node = make_comp(nuke, adapter)
    node["job_history"].setValue(json.dumps([entry]))
    adapter.on_collect(node)
    assert [read.name() for read in nuke.allNodes("Read")][1:] == ["AA_sh010_v001_bg"]


def test_collect_of_a_job_whose_source_nodes_are_gone_reads_the_job_files(nuke, adapter):
    plate, roto, node = make_comp(nuke, adapter)
    entry = json.loads(history("/r", engine_results("/r", versions=(1,))))
    entry[0]["plate_node"] = "Deleted_Read"
    node["job_history"].setValue(json.dumps(entry))
    adapter.on_collect(node)
    copy = nuke.toNode("AA_sh010_subject")
    assert copy.input(0)["file"].value() == "/shows/demo/sh010/plate/sh010_plate.%04d.exr"
    assert copy.input(1)["raw"].value() is True


def test_new_versions_compares_paths_in_any_frame_notation():
    version = PublishedVersion("s", 1, 1, "1", {"bg": "/o/s_bg_v001.####.exr"}, job_id="j")
    assert collect.new_versions([version], ["/o/s_bg_v001.%04d.exr"]) == []
    assert collect.new_versions([version], ["/o/other.%04d.exr"]) == [version]
    assert collect.unique_name("A", {"A", "A_2"}) == "A_3"
