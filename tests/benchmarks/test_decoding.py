"""The decoding benchmark reads its source sentences like a config's data path."""
import gzip

from benchmarks.decoding import source_sentences


def test_sentences_come_from_a_gzip_file_blank_lines_dropped(tmp_path):
    path = tmp_path / "src.de.gz"
    path.write_bytes(gzip.compress("Ein Hund läuft.\n\nZwei Männer.\n".encode()))
    assert source_sentences(str(path)) == ["Ein Hund läuft.", "Zwei Männer."]


def test_a_relative_path_is_found_under_rnnsuite_data(tmp_path, monkeypatch):
    (tmp_path / "multi30k").mkdir()
    (tmp_path / "multi30k" / "src.txt").write_text("Hallo\n")
    monkeypatch.setenv("RNNSUITE_DATA", str(tmp_path))
    assert source_sentences("multi30k/src.txt") == ["Hallo"]
