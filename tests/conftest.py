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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the marks
def pytest_collection_modifyitems(config, items):
    """Work units for ``--dist loadgroup`` (scripts/test.sh): a test file is one unit, so its module
    fixtures (trained runs) are built once, except that the task contract (tests/tasks/test_conformance.py)
    is one unit per task. That file trains every task and is the longest unit by far: as one, it kept a
    worker busy for eight minutes after the other had finished the rest of the suite."""
    for item in items:
        group = item.nodeid.split("::")[0]
        callspec = getattr(item, "callspec", None)
        task = callspec.params.get("trained") if callspec else None
        if task is not None:
            group = f"{group}::{task}"
        item.add_marker(pytest.mark.xdist_group(group))
