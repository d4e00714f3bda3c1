"""Learning curves from a run's history.csv: a damaged log is a warning, never a traceback or a bad plot."""
from common.plots import read_history, save_learning_curves


def test_the_history_train_writes_is_read_column_by_column(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss\n0,1.5,1.75\n1,0.5,0.75\n", encoding="utf-8")
    assert read_history(path) == {"epoch": [0.0, 1.0], "loss": [1.5, 0.5], "val_loss": [1.75, 0.75]}


def test_a_history_that_is_a_folder_gives_a_warning_and_keeps_the_old_plot(tmp_path, capsys):
    (tmp_path / "history.csv").mkdir()
    plot = tmp_path / "curves.png"
    plot.write_bytes(b"the run's plot")
    assert save_learning_curves(tmp_path / "history.csv", plot) is False
    assert plot.read_bytes() == b"the run's plot"
    assert "history.csv is damaged" in capsys.readouterr().err


def test_a_history_of_other_columns_or_bytes_is_not_plotted(tmp_path, capsys):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00garbage,,\n1,2\n")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"epoch,loss\n\xff\xfe\n")
    assert read_history(garbage) == {} and read_history(binary) == {}
    err = capsys.readouterr().err
    assert "garbage.csv is damaged (its header does not start with 'epoch')" in err
    assert "binary.csv is damaged" in err
