"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


# The suite runs offline: local evaluate modules and datasets must never reach for the Hub.
# Set before any test module imports huggingface_hub, which reads these once at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real corpora in ``../shared/data`` (see its README); skips the test if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA
