"""The race behind test_two_jobs_at_once_claim_different_versions, made deterministic: a job whose scan
of the output folder is stale (another job claimed, published and dropped its claim since) must not
claim the published version again."""
import pytest

from actanywhere.engine.media import versioning
from test_media_versioning import FILE_TEMPLATE, FOLDER_TEMPLATE, all_files, render


@pytest.mark.parametrize("layout", [FOLDER_TEMPLATE, FILE_TEMPLATE])
def test_a_stale_scan_does_not_reclaim_a_published_version(tmp_path, monkeypatch, layout):
    template = layout.format(root=tmp_path)
    assert render(template).version == 1
    published = all_files(tmp_path)
    monkeypatch.setattr(versioning, "existing_versions", lambda *args, **kwargs: [])  # scanned before v001
    assert render(template).version == 2
    assert set(published) < set(all_files(tmp_path))  # v001 untouched, v002 beside it
    assert not [name for name in all_files(tmp_path) if name.endswith((".claim", ".staged"))]
