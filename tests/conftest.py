"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


# The suite runs offline: local evaluate modules and datasets must never reach for the Hub.
# Set before any test module imports huggingface_hub, which reads these once at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from xlner_test_models import require_shared_data  # noqa: E402 (after the environment above)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real corpora in ``../shared/data`` (see its README; XLNER_SHARED_DATA overrides); skips the test if absent."""
    return require_shared_data()
