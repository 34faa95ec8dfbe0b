"""Shared test set-up: no model hub, ever, and no studio config leaking in from the environment."""
import atexit
import os
import shutil
import tempfile

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
# Camera tracks are cached under $ACTANYWHERE_CACHE: keep the suite's out of the home directory (engines
# and farm workers started by tests inherit it).
os.environ["ACTANYWHERE_CACHE"] = tempfile.mkdtemp(prefix="actanywhere_test_cache_")
atexit.register(shutil.rmtree, os.environ["ACTANYWHERE_CACHE"], True)

# The fake Nuke's fixtures (`nuke`, `adapter`) for the plugin tests.
pytest_plugins = ("fake_nuke",)

from actanywhere.engine.config import ENV_LAYERS  # noqa: E402  (after the environment is fixed)


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch):
    for variable in ENV_LAYERS + ("OCIO",):
        monkeypatch.delenv(variable, raising=False)
