"""Atomic writes: nothing half-written, normal permissions, damaged artifacts detected."""
import errno
import json
import os
import stat

import pytest

from common.errors import UserError
from common.io import atomic_dir, atomic_path, atomic_write_json, atomic_write_text, check_writable, read_json


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


def test_a_stale_temporary_folder_left_by_a_killed_export_is_gone_after_the_rerun(tmp_path):
    stale = tmp_path / ".export.k1ll3d0x"  # what mkdtemp beside run/export leaves when the process is killed
    (stale / "export").mkdir(parents=True)
    (stale / "export" / "saved_model.pb").write_bytes(b"half")
    with atomic_dir(tmp_path / "export") as folder:
        (folder / "saved_model.pb").write_bytes(b"pb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
    assert (tmp_path / "export" / "saved_model.pb").read_bytes() == b"pb"


def test_a_temporary_folder_a_running_writer_holds_is_left_alone(tmp_path):
    with atomic_path(tmp_path / "metrics.json") as first:
        first.write_text("{}")
        atomic_write_json(tmp_path / "metrics.json", {"b": 2})  # a second writer of the same path meanwhile
        assert first.exists()
    assert json.loads((tmp_path / "metrics.json").read_text()) == {}


def test_writing_onto_a_device_or_pipe_is_refused_and_it_stays(tmp_path):
    """As root, os.replace would swap a device such as /dev/full itself for a regular file."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(UserError, match="pipe is not a regular file"):
        atomic_write_text(pipe, "x")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(UserError, match=r"cannot write .*out.csv \(No space left on device\)"):
        with atomic_path(tmp_path / "out.csv") as tmp:
            monkeypatch.setattr(os, "replace", full)
            tmp.write_text("rows")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("place", ["/proc/rnnsuite.csv", "/sys/rnnsuite.csv", "{file}/out.csv"])
def test_an_output_in_a_virtual_folder_or_under_a_file_is_refused_before_writing(tmp_path, place):
    (tmp_path / "data.csv").write_text("y\n1\n")
    path = place.replace("{file}", str(tmp_path / "data.csv"))
    with pytest.raises(UserError, match=r"--output .*(cannot write into|is a file, not a folder)"):
        check_writable(path, "--output")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod 500 folder")
def test_an_output_in_an_unwritable_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(UserError, match="cannot write into .*locked"):
            check_writable(locked / "out.csv", "--output")
    finally:
        locked.chmod(0o700)


def test_a_json_artifact_that_is_a_folder_is_reported(tmp_path):
    (tmp_path / "state.json").mkdir()
    with pytest.raises(UserError, match="state.json is a folder, not a JSON file"):
        read_json(tmp_path / "state.json")


def test_a_file_name_longer_than_the_file_system_allows_is_one_line_before_any_write(tmp_path):
    """A 300-byte name fails even a stat with ENAMETOOLONG: refused up front, not as a traceback."""
    with pytest.raises(UserError, match="longer than the 255 bytes"):
        check_writable(tmp_path / ("o" * 300 + ".csv"), "--output")
    with pytest.raises(UserError, match="shorter name"):
        check_writable(tmp_path / ("d" * 256) / "run", "--run-dir", folder=True)
    assert list(tmp_path.iterdir()) == []
