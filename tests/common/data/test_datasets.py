"""Dataset paths: the user's files, $RNNSUITE_DATA, and the checksummed download cache."""
import hashlib

import pytest

from common.data import datasets
from common.errors import DataError

LAYOUT = "ett/ETTh1.csv"


@pytest.fixture
def cached(tmp_path, monkeypatch):
    """A known file in the cache, whose expected sha256 is that of its current content."""
    monkeypatch.delenv("RNNSUITE_DATA", raising=False)
    path = tmp_path / "cache" / "ett" / "ETTh1.csv"
    path.parent.mkdir(parents=True)
    path.write_text("date,OT\n2016-07-01 00:00:00,1.0\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(datasets.KNOWN_FILES, LAYOUT, ("http://127.0.0.1:9/unreachable.csv", digest))
    return path


def test_a_cached_known_file_is_checked_and_used(cached):
    assert datasets.resolve(LAYOUT) == cached
    assert cached.with_name("ETTh1.csv.verified").exists()


def test_a_cached_file_changed_after_its_check_is_never_trusted(cached):
    datasets.resolve(LAYOUT)
    cached.write_text("date,OT\n2016-07-01 00:00:00,999.0\n")  # damaged or replaced since
    with pytest.raises(DataError, match="could not be downloaded"):
        datasets.resolve(LAYOUT)  # the hash no longer matches, and the source is unreachable here


def test_a_failed_download_leaves_no_partial_file(cached):
    cached.unlink()
    with pytest.raises(DataError, match="RNNSUITE_DATA"):
        datasets.resolve(LAYOUT)
    assert list(cached.parent.iterdir()) == []


def test_an_unknown_missing_file_names_where_it_looked(tmp_path):
    with pytest.raises(DataError, match="looked in"):
        datasets.resolve("nowhere/missing.csv")


# ---- many files: globs and lists ------------------------------------------------------------------
def shards(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(name + "\n")
    return folder


def test_a_glob_names_its_files_in_sorted_order(tmp_path):
    folder = shards(tmp_path / "corpus", "part-2.txt", "part-10.txt", "part-1.txt.gz", "notes.md")
    assert datasets.resolve_all(str(folder / "part-*")) == [folder / "part-1.txt.gz", folder / "part-10.txt",
                                                            folder / "part-2.txt"]


def test_a_relative_glob_is_looked_up_like_a_path(tmp_path, monkeypatch):
    shards(tmp_path / "data" / "corpus", "b.txt", "a.txt")
    monkeypatch.setenv("RNNSUITE_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert datasets.resolve_all("corpus/*.txt") == [tmp_path / "data" / "corpus" / "a.txt",
                                                    tmp_path / "data" / "corpus" / "b.txt"]


def test_a_list_keeps_its_order_and_reads_a_file_two_entries_name_once(tmp_path):
    folder = shards(tmp_path, "b.txt", "a.txt", "c.txt")
    spec = [str(folder / "c.txt"), str(folder / "*.txt")]
    assert datasets.resolve_all(spec) == [folder / "c.txt", folder / "a.txt", folder / "b.txt"]


def test_a_glob_that_matches_nothing_is_one_line_naming_the_pattern(tmp_path):
    pattern = str(tmp_path / "shards" / "part-*.csv")
    with pytest.raises(DataError, match="matches no file") as error:
        datasets.resolve_all(pattern)
    assert pattern in str(error.value) and "\n" not in str(error.value)


def test_a_file_whose_name_holds_glob_characters_is_that_file(tmp_path):
    folder = shards(tmp_path, "data[1].csv", "data1.csv")
    assert datasets.resolve_all(str(folder / "data[1].csv")) == [folder / "data[1].csv"]


def test_an_empty_list_is_refused():
    with pytest.raises(DataError, match="list is empty"):
        datasets.resolve_all([])
