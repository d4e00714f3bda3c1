"""Shared pytest fixtures."""
import os
from pathlib import Path

import pytest

import common  # noqa: F401  (quiet TensorFlow before any test imports it)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark datasets folder ($RNNSUITE_DATA, else ../shared/datasets); skips when absent."""
    candidates = [os.environ.get("RNNSUITE_DATA"), REPO.parent / "shared" / "datasets"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    pytest.skip("benchmark datasets not available (set RNNSUITE_DATA)")


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Run each test in its own folder so runs/ and demo files never leak into the repo."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNNSUITE_CACHE", str(tmp_path / "cache"))
