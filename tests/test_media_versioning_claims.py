"""The race behind test_two_jobs_at_once_claim_different_versions, made deterministic: a job whose scan
of the output folder is stale (another job claimed and published since) must not claim the published
version again; and a dead job's claim is given back."""
import json
import os
import subprocess
import sys

import pytest

from actanywhere.engine import outputs
from actanywhere.engine.outputs import CLAIM, OutputTemplate
from test_media_versioning import FOLDER_TEMPLATE, NESTED_TEMPLATE, all_files, render, visible_files


@pytest.mark.parametrize("layout", [FOLDER_TEMPLATE, NESTED_TEMPLATE])
def test_a_stale_scan_does_not_reclaim_a_published_version(tmp_path, monkeypatch, layout):
    template = layout.format(root=tmp_path)
    assert render(template).version == 1
    published = all_files(tmp_path)
    monkeypatch.setattr(OutputTemplate, "versions_taken", lambda *args, **kwargs: [])  # scanned before v001
    assert render(template).version == 2
    assert set(published) < set(all_files(tmp_path))  # v001 untouched, v002 beside it
    assert not [name for name in all_files(tmp_path) if name.endswith(CLAIM) or ".staging" in name]


def test_a_dead_claim_is_reclaimed_and_its_number_reused(tmp_path):
    template = OutputTemplate.parse(FOLDER_TEMPLATE.format(root=tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE, text=True)
    claim = outputs.claim_version(template, "sh010", 7, key="job-a")
    # make it the claim of a process that has exited (what a SIGKILL mid-publish leaves)
    with open(os.path.join(claim.staging, CLAIM)) as stream:
        data = json.load(stream)
    data.update(pid=int(dead.stdout), started=None)
    with open(os.path.join(claim.staging, CLAIM), "w") as stream:
        json.dump(data, stream)
    assert render(FOLDER_TEMPLATE.format(root=tmp_path)).version == 1
    assert not os.path.exists(claim.staging)
    assert visible_files(tmp_path)


def test_a_live_claim_of_another_host_is_left_alone(tmp_path):
    template = OutputTemplate.parse(FOLDER_TEMPLATE.format(root=tmp_path))
    claim = outputs.claim_version(template, "sh010", 7, key="job-a")
    with open(os.path.join(claim.staging, CLAIM)) as stream:
        data = json.load(stream)
    data.update(host="another-host", pid=1)
    with open(os.path.join(claim.staging, CLAIM), "w") as stream:
        json.dump(data, stream)
    assert render(FOLDER_TEMPLATE.format(root=tmp_path)).version == 2
    assert os.path.isdir(claim.staging)


def test_a_key_publishes_once(tmp_path):
    template = FOLDER_TEMPLATE.format(root=tmp_path)
    first = render(template, record={"task_id": "task-1"})
    with pytest.raises(outputs.OutputError) as raised:
        render(template, record={"task_id": "task-1"})
    assert raised.value.code == "already_published"
    assert outputs.published_by(OutputTemplate.parse(template), "sh010", "task-1", 7).version == first.version
    assert render(template, record={"task_id": "task-2"}).version == 2  # another key is another version


def test_a_claim_of_another_host_untouched_for_its_timeout_is_reclaimed(tmp_path):
    template = OutputTemplate.parse(FOLDER_TEMPLATE.format(root=tmp_path))
    claim = outputs.claim_version(template, "sh010", 7, key="job-a")
    path = os.path.join(claim.staging, CLAIM)
    with open(path) as stream:
        data = json.load(stream)
    data.update(host="another-host", pid=1)
    with open(path, "w") as stream:
        json.dump(data, stream)
    old = os.stat(path).st_mtime - outputs.CLAIM_TIMEOUT_S - 1
    os.utime(path, (old, old))  # its host died mid-publish: nobody touches it any more
    assert render(FOLDER_TEMPLATE.format(root=tmp_path)).version == 1
    assert not os.path.exists(claim.staging)
