"""Reading a series CSV: every problem is named with file, line and fix."""
import pytest

from common.errors import DataError
from tasks.forecasting.series import header, read_series
from tests.tasks.forecasting.helpers import hourly, write_csv


def read(path):
    return read_series(path, "date", ["a", "b"])


@pytest.mark.parametrize("rows, message", [
    (hourly(6)[:2] + hourly(6)[3:], r"s.csv:4: gap in the series: 2024-01-01 03:00:00 follows 2024-01-01 "
                                    r"01:00:00.*data.fill"),
    (["2024-01-01 00:00:00,1,2", "2024-01-01 01:00:00,inf,2"], r"s.csv:3: column 'a' holds 'inf', not a fin"),
    (["2024-01-01 00:00:00,1,-Infinity", "2024-01-01 01:00:00,1,2"], r"s.csv:2: column 'b' holds '-Inf"),
    (["2024-01-01 00:00:00,1,2", "2024-01-01 01:00:00,1e999,2"], r"s.csv:3: column 'a' holds '1e999'"),
    (["2024-01-01 00:00:00,1,2", "2024-01-01 01:00:00,1,2,3"], r"s.csv:3: 4 fields but the header has 3"),
    (["2024-01-01 00:00:00,1,2", '2024-01-01 01:00:00,"1,2', "2024-01-01 02:00:00,1,2"],
     r"s.csv:3: a quoted value starts on this line and its closing quote"),
    ([hourly(3)[1], hourly(3)[0], hourly(3)[2]], r"s.csv:3: timestamp .* before .*data.sort: true"),
    ([hourly(3)[0], hourly(3)[0], hourly(3)[1]], r"s.csv:3: duplicate timestamp"),
    (["2024-01-01 00:00:00,1,2", "2024-01-01 01:00:00,,2", "2024-01-01 02:00:00,1,2"],
     r"s.csv:3: missing value \(NaN\) in column 'a'"),
    (["2024-01-01 00:00:00,1,2", "2024-01-01 01:00:00,abc,2"], r"s.csv:3: column 'a' holds 'abc', not a number"),
    (["yesterday,1,2"], r"s.csv:2: cannot read 'yesterday' in column 'date'"),
])
def test_bad_rows_are_named_with_file_and_line(tmp_path, rows, message):
    path = write_csv(tmp_path / "s.csv", rows)
    with pytest.raises(DataError, match=message):
        read(path)


def test_missing_column_lists_the_columns_there_are(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(50))
    with pytest.raises(DataError, match=r"column\(s\) 'c' not found; the file has 'date', 'a', 'b'"):
        read_series(path, "date", ["c", "b"])


def test_non_utf8_file_names_the_encoding_setting(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("date,a,b\n2024-01-01 00:00:00,1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"s.csv:2: not valid utf-8 text .*data.encoding"):
        read(path)


def test_unsorted_rows_are_sorted_when_asked(tmp_path):
    path = write_csv(tmp_path / "s.csv", [hourly(3)[1], hourly(3)[0], hourly(3)[2]])
    frame = read_series(path, "date", ["a", "b"], sort=True)
    assert frame["a"].tolist() == [0, 1, 2] and frame.attrs["freq"] == "h"


def test_header_lists_the_columns_without_bom_or_spaces(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"\xef\xbb\xbfdate, a ,b\r\n2024-01-01 00:00:00,1,2\r\n")
    assert header(path) == ["date", "a", "b"]


def test_an_empty_file_has_no_header_line(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"e.csv:1: no header line"):
        header(path)
