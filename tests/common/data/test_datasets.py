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
