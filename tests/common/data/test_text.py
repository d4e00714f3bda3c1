"""Reading text files: streamed lines equal the whole-file read, gzip is transparent, damage is one line."""
import gzip

import pytest

from common.data import text
from common.data.text import iter_lines, progress_lines, read_joined, read_lines, read_text
from common.errors import DataError

AWKWARD = "\ufefffirst\r\nsecond\rthird é\n\n  fifth  \nno final newline"


def whole_file_lines(path):
    lines = read_text(path).split("\n")
    return lines[:-1] if lines[-1] == "" else lines


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 1 << 20])
def test_streamed_lines_equal_the_whole_file_read_at_any_chunk_size(tmp_path, chunk_bytes):
    path = tmp_path / "a.txt"
    path.write_bytes(AWKWARD.encode("utf-8"))  # a BOM, CRLF, a lone CR, a two-byte character, no final LF
    streamed = list(iter_lines(path, chunk_bytes=chunk_bytes))
    assert [line for _, line in streamed] == whole_file_lines(path)
    assert [n for n, _ in streamed] == [1, 2, 3, 4, 5, 6]


def test_a_gzip_file_reads_as_the_text_it_holds(tmp_path):
    plain, packed = tmp_path / "a.txt", tmp_path / "a.txt.gz"
    plain.write_bytes(AWKWARD.encode("utf-8"))
    packed.write_bytes(gzip.compress(AWKWARD.encode("utf-8")))
    assert read_text(packed) == read_text(plain)
    assert list(iter_lines(packed, chunk_bytes=4)) == list(iter_lines(plain))


@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_a_damaged_gzip_file_is_one_line_naming_the_file(tmp_path, damage):
    packed = tmp_path / "corpus.txt.gz"
    payload = gzip.compress("".join(f"line {i}\n" for i in range(50000)).encode())
    packed.write_bytes(payload[: len(payload) // 2] if damage == "truncated" else b"plain text, not gzip\n")
    for read in (lambda: read_text(packed), lambda: list(iter_lines(packed, chunk_bytes=4096))):
        with pytest.raises(DataError, match="not a valid gzip file") as error:
            read()
        assert str(error.value).startswith(f"{packed}: ") and "\n" not in str(error.value)


def test_a_bad_byte_far_into_a_streamed_file_names_its_line(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"fine\n" * 1000 + b"caf\xe9\n" + b"fine\n" * 10)
    with pytest.raises(DataError, match=rf"^{path}:1001: not valid utf-8 text \(byte 0xe9\)"):
        list(iter_lines(path, chunk_bytes=64))


def test_read_lines_keeps_its_numbering_and_stripping(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(AWKWARD.encode("utf-8"))
    assert read_lines(path) == [(1, "first"), (2, "second"), (3, "third é"), (5, "  fifth"),
                                (6, "no final newline")]


def test_shards_are_joined_with_no_line_running_across_two_files(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo")  # no final newline
    (tmp_path / "b.txt").write_text("three\n")
    assert read_joined([tmp_path / "a.txt", tmp_path / "b.txt"]) == "one\ntwo\nthree\n"
    assert read_joined([tmp_path / "a.txt"]) == "one\ntwo"  # one file: exactly its text


def test_progress_lines_yield_every_line_and_stay_quiet_off_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(text, "CHUNK_BYTES", 16)
    path = tmp_path / "a.txt"
    path.write_text("".join(f"{i}\n" for i in range(100)))
    assert [line for _, line in progress_lines(path)] == [str(i) for i in range(100)]
    assert capsys.readouterr().out == ""
