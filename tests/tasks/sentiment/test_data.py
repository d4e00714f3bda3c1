"""Reading labelled text: formats, label handling, and one clear message per bad input."""
import json

import pytest

from common.errors import DataError
from tasks.sentiment import data as td


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


# ---- formats ---------------------------------------------------------------------------------

def test_csv_with_quoted_commas_bom_and_crlf(tmp_path):
    path = write(tmp_path / "d.csv", '\ufefftext,label\r\n"good, really",pos\r\nbad,neg\r\n')
    data = td.read_labelled(path)
    assert data.texts == ["good, really", "bad"] and data.labels == ["pos", "neg"]
    assert data.sources[1].endswith("d.csv:3")


def test_a_quoted_text_may_span_lines_and_keeps_its_line_break(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\n"two\nlines",pos\nbad,neg\n')
    data = td.read_labelled(path)
    assert data.texts == ["two\nlines", "bad"] and data.sources[1].endswith("d.csv:4")


@pytest.mark.parametrize("rows", [
    ['"unclosed,pos'] + [f"t{i},neg" for i in range(10)],  # swallows the rest of the file
    [f"t{i},neg" for i in range(10)] + ['"unclosed,pos'],  # on the last line
    [f"t{i},neg" for i in range(10)] + ['t,"pos'],  # in the last field of the last line
])
def test_an_unclosed_quote_is_reported_where_it_starts(tmp_path, rows):
    start = 2 + next(i for i, row in enumerate(rows) if '"' in row)
    path = write(tmp_path / "d.csv", "text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=rf"d.csv:{start}: a quoted field starts on this line and its closing "
                                        r"quote \(\"\) is missing"):
        td.read_labelled(path)


def test_a_ragged_record_after_a_multi_line_quote_names_its_first_line(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\na,pos\n"b,neg\nc",pos,extra\nd,neg\n')
    with pytest.raises(DataError, match=r"d.csv:3: 3 fields but the header has 2 .*on to line 4"):
        td.read_labelled(path)


def test_tsv_takes_quotes_literally_like_glue(tmp_path):
    path = write(tmp_path / "d.tsv", 'sentence\tlabel\n"quoted" start \t1\n')
    data = td.read_labelled(path, "sentence", "label")
    assert data.texts == ['"quoted" start '] and data.labels == ["1"]


def test_jsonl_integer_and_string_labels_are_the_same_class(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", "label": "1"}\n')
    assert td.read_labelled(path).labels == ["1", "1"]


def test_label_files_give_each_line_the_files_label(tmp_path):
    pos = tmp_path / "r.pos"
    pos.write_bytes(b"fine film \nsuperb\x85 ending\n")  # 0x85 is an ellipsis in cp1252
    neg = write(tmp_path / "r.neg", "dull\n\n")
    data = td.read_label_files({"pos": pos, "neg": neg}, encoding="cp1252")
    assert data.labels == ["pos", "pos", "neg"]
    assert data.texts[1] == "superb\u2026 ending"


def test_plain_text_prediction_input_keeps_blank_lines_aligned(tmp_path):
    assert td.read_texts(write(tmp_path / "in.txt", "a\n\nb\n")) == ["a", "", "b"]


def test_prediction_input_may_be_a_csv_column(tmp_path):
    assert td.read_texts(write(tmp_path / "in.csv", "id,text\n1,hello\n"), "text") == ["hello"]


# ---- bad input -------------------------------------------------------------------------------

def test_missing_column_lists_the_header_and_the_key_to_set(tmp_path):
    path = write(tmp_path / "d.csv", "review,stars\nok,1\n")
    with pytest.raises(DataError, match=r"d.csv:1: no text column 'text'; the header has 'review', "
                                         r"'stars'; set data.text_column"):
        td.read_labelled(path)


def test_empty_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"d.csv: the file is empty"):
        td.read_labelled(write(tmp_path / "d.csv", ""))


def test_header_only_file_has_no_examples(tmp_path):
    with pytest.raises(DataError, match=r"d.csv: no examples"):
        td.read_labelled(write(tmp_path / "d.csv", "text,label\n"))


def test_ragged_row_names_its_line(tmp_path):
    with pytest.raises(DataError, match=r"d.csv:3: 3 fields but the header has 2"):
        td.read_labelled(write(tmp_path / "d.csv", "text,label\nok,1\nnot ok, really,0\n"))


def test_empty_label_names_its_line(tmp_path):
    with pytest.raises(DataError, match=r"d.csv:2: the label is empty"):
        td.read_labelled(write(tmp_path / "d.csv", "text,label\nok,\n"))


def test_undecodable_bytes_point_to_data_encoding(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\ncaf\xe9,1\n", encoding="cp1252")
    with pytest.raises(DataError, match=r"d.csv:2: not valid utf-8 .* set data.encoding"):
        td.read_labelled(path)


def test_bad_json_line_is_named(tmp_path):
    with pytest.raises(DataError, match=r"d.jsonl:2: not valid JSON"):
        td.read_labelled(write(tmp_path / "d.jsonl", json.dumps({"text": "a", "label": 0}) + "\n{oops\n"))


def test_unknown_suffix_asks_for_data_format(tmp_path):
    with pytest.raises(DataError, match="set data.format"):
        td.read_labelled(write(tmp_path / "d.dat", "x"))


def test_a_label_training_never_saw_is_named_with_its_line(tmp_path):
    data = td.read_labelled(write(tmp_path / "t.csv", "text,label\na,pos\nb,meh\n"))
    with pytest.raises(DataError, match=r"t.csv:3: label 'meh' in the test data never occurs in the "
                                         r"training data \(known: neg, pos\)"):
        td.check_known_labels(data, ["neg", "pos"], "test")


def test_empty_texts_are_dropped_and_counted():
    data = td.LabelledTexts(["a", "  ", ""], ["x", "y", "y"], ["f:1", "f:2", "f:3"])
    kept, dropped = data.without_empty_texts()
    assert kept.texts == ["a"] and dropped == 2


# ---- labels ----------------------------------------------------------------------------------

def test_integer_labels_sort_numerically_others_alphabetically():
    assert td.sorted_labels(["10", "2", "1"]) == ["1", "2", "10"]
    assert td.sorted_labels(["pos", "neg"]) == ["neg", "pos"]


@pytest.mark.parametrize("label, shown", [('["neg"]', '["neg"]'), ('{"y": 1}', '{"y": 1}'), ("null", "null")])
def test_a_json_label_that_is_not_one_class_is_refused(tmp_path, label, shown):
    text = f'{{"text": "good", "label": "pos"}}\n{{"text": "bad", "label": {label}}}\n'
    path = write(tmp_path / "d.jsonl", text)
    shown = shown.replace("[", ".").replace("{", ".")
    with pytest.raises(DataError, match=rf"d.jsonl:2: 'label' must be one class label \(a string or "
                                        rf"number\), got {shown}"):
        td.read_labelled(path)
