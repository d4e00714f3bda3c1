"""Atomic writes: nothing half-written, normal permissions, damaged artifacts detected."""
import json
import os
import stat

import pytest

from common.errors import UserError
from common.io import atomic_dir, atomic_path, atomic_write_json, read_json


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    target = tmp_path / "model.keras"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_keeps_the_suffix_libraries_infer_formats_from(tmp_path):
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent != tmp_path  # a private folder: no shared temp name
        tmp.write_bytes(b"x")
    assert (tmp_path / "plot.png").read_bytes() == b"x"


def test_written_files_and_exports_get_the_users_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "metrics.json", {"a": 1})
        with atomic_dir(tmp_path / "export") as folder:
            (folder / "saved_model.pb").write_bytes(b"pb")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "export").stat().st_mode) == 0o755  # readable by a serving container


def test_a_truncated_json_artifact_is_reported_not_a_traceback(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"vocabulary": ["a", "b"]})[:9])
    with pytest.raises(UserError, match=r"state.json is damaged"):
        read_json(path)
