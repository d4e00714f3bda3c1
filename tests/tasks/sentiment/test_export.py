"""predict_file: the exported model over a user file (a stand-in serving function, no training)."""
import tensorflow as tf

from tasks.sentiment.export import predict_file
from tests.tasks.sentiment.helpers import load


def fixed_serve(text):
    """What the SavedModel's serving_default returns: every text labelled "pos" with probability 0.8."""
    n = int(text.shape[0])
    return {"label": tf.constant([b"pos"] * n), "probabilities": tf.constant([[0.2, 0.8]] * n)}


def test_predict_file_reads_the_text_column_of_a_csv_when_data_format_is_auto(tmp_path):
    source = tmp_path / "reviews.csv"  # the format comes from the suffix, not one text per line
    source.write_text("id,text\n1,good film\n2,bad film\n", encoding="utf-8")
    predict_file(fixed_serve, load(**{"data.format": "auto"}), ["neg", "pos"], source, tmp_path / "out.csv")
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert lines == ["text,label,probability,p_neg,p_pos", "good film,pos,0.8000,0.2000,0.8000",
                     "bad film,pos,0.8000,0.2000,0.8000"]
