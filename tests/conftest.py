"""Shared test set-up: no model hub, ever, and no studio config leaking in from the environment."""
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

# The fake Nuke's fixtures (`nuke`, `adapter`) for the plugin tests.
pytest_plugins = ("fake_nuke",)

from actanywhere.engine.config import ENV_LAYERS  # noqa: E402  (after the environment is fixed)


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch):
    for variable in ENV_LAYERS + ("OCIO",):
        monkeypatch.delenv(variable, raising=False)
