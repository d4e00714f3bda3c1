"""The recipe's unlabelled text: formats, benchmark paths, bad files."""
import gzip
from types import SimpleNamespace

import pytest

from common.errors import DataError
from common.pretrained import corpus
from common.pretrained.corpus import read_unlabelled
from tests.common.terminal import on_a_terminal


def test_extra_text_reads_the_text_column_of_a_gzipped_csv_as_imdb_writes_it(tmp_path):
    rows = ["id,rating,label,text", '0_3,3,0,"Dull, <br /><br />and ""long"""', "",
            "1_9,9,1,A splendid film."]
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress("\n".join(rows).encode("utf-8") + b"\n"))
    path, texts = read_unlabelled(str(tmp_path / "train.csv.gz"))
    assert path == tmp_path / "train.csv.gz"
    assert texts == [(2, 'Dull, <br /><br />and "long"'), (4, "A splendid film.")]


def test_extra_text_reads_the_text_column_key_of_json_lines_and_the_lines_of_a_plain_file(tmp_path):
    (tmp_path / "u.jsonl").write_text('{"review": "a splendid film", "id": 1}\n\n{"review": "dull"}\n',
                                      encoding="utf-8")
    assert read_unlabelled(str(tmp_path / "u.jsonl"), text_column="review")[1] == [(1, "a splendid film"),
                                                                                    (3, "dull")]
    (tmp_path / "u.txt").write_text("id,text\n\na splendid film  \n", encoding="utf-8")  # no header: lines
    assert read_unlabelled(str(tmp_path / "u.txt"))[1] == [(1, "id,text"), (3, "a splendid film")]


def test_extra_text_resolves_benchmark_paths_in_rnnsuite_data(tmp_path, monkeypatch):
    (tmp_path / "imdb").mkdir()
    (tmp_path / "imdb" / "u.tsv").write_text("text\tlabel\na splendid film\t1\n", encoding="utf-8")
    monkeypatch.setenv("RNNSUITE_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path / "imdb")
    assert read_unlabelled("imdb/u.tsv")[1] == [(2, "a splendid film")]


@pytest.mark.parametrize("name, content, words", [
    ("u.csv", b"id,review\n1,a splendid film\n",
     ["u.csv:1: no text column 'text'; the header has 'id', 'review'; set model.pretraining.text_column"]),
    ("u.jsonl", b'{"review": "a splendid film"}\n', ["u.jsonl:1: no text under the key 'text'",
                                                     "model.pretraining.text_column"]),
    ("u.txt", b" \n\n", ["u.txt is empty", "remove it from model.pretraining.extra_text"]),
    ("u.csv", b"text\n\n", ["u.csv holds no texts"]),
    ("u.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["u.txt is a binary file"]),
    ("u.txt", b"\x00" * 64, ["u.txt is a binary file"]),
    ("u.txt", "très bon\n".encode("cp1252"), ["u.txt:1: not valid utf-8", "model.pretraining.encoding"]),
])
def test_a_bad_extra_text_file_is_one_line_naming_it_and_the_fix(tmp_path, name, content, words):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as error:
        read_unlabelled(str(tmp_path / name))
    message = str(error.value)
    assert message.startswith("model.pretraining.extra_text: ") and "\n" not in message
    for word in words:
        assert word in message


def test_a_missing_extra_text_file_is_named_with_the_fix(tmp_path):
    with pytest.raises(DataError, match="model.pretraining.extra_text: data file not found: nowhere.txt; .*"
                                        "correct the path or remove it"):
        read_unlabelled("nowhere.txt")


def test_pretraining_text_standardises_in_batches_exactly_as_one_call_with_a_bar_on_a_terminal(tmp_path,
                                                                                                monkeypatch):
    monkeypatch.setattr(corpus, "STANDARDISE_LINES", 3)
    terminal = on_a_terminal(monkeypatch)
    (tmp_path / "u.txt").write_text("Extra ONE\nextra  two\n", encoding="utf-8")
    calls = []

    def standardise(texts):
        calls.append(list(texts))
        return [t.lower() for t in texts]

    options = SimpleNamespace(pretraining=SimpleNamespace(text_column="text", encoding="utf-8",
                                                          leakage_tolerance=0.0))
    train = ["A  b", " ", "C", "D e", "F"]
    text = corpus.pretraining_text(options, train, standardise, lambda t: t + " !", [str(tmp_path / "u.txt")])
    # the blank text dropped, spaces made single, the extra text tokenised
    assert text == "a b\nc\nd e\nf\nextra one !\nextra two !\n"
    assert calls == [["A  b", " ", "C"], ["D e", "F"], ["Extra ONE !", "extra  two !"]]
    assert "pretraining text:  43%|" in terminal.getvalue()  # 3 of 7 lines
