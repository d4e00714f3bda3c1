"""SavedModel export of a task's serving functions, and loading it back for `predict`.

The exported graph carries all preprocessing (scaling, vocabularies, decoding
loops), so serving needs TensorFlow only, not this project's code.
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common.errors import DataError, UserError
from common.io import atomic_dir


def build_archive(task, model, config, prepared):
    """An ExportArchive with every signature the task declares (``serving_default`` first)."""
    signatures = task.serving_functions(model, config, prepared)
    if "serving_default" not in signatures:
        raise ValueError(f"task {task.name} declares no serving_default signature")
    archive = keras.export.ExportArchive()
    archive.track(model)
    ordered = ["serving_default"] + [name for name in signatures if name != "serving_default"]
    for name in ordered:
        signature = signatures[name]
        # Autograph on, so tasks may write Python loops/conditionals over tensors (decode loops).
        fn = tf.function(signature.fn, input_signature=signature.input_signature, autograph=True)
        archive.add_endpoint(name, fn, input_signature=signature.input_signature)
    return archive, signatures


def write_export(task, model, config, prepared, export_dir, add_files=None) -> dict:
    """Write the SavedModel atomically into ``export_dir``; returns the task's signatures.

    ``add_files(folder, signatures)`` may add files (the model card) before the folder is swapped in.
    """
    archive, signatures = build_archive(task, model, config, prepared)
    with atomic_dir(export_dir) as tmp:
        archive.write_out(str(tmp), verbose=False)
        if add_files is not None:
            add_files(tmp, signatures)
    return signatures


def load_serving(export_dir, signature="serving_default"):
    """The exported signature as a callable ``fn(**tensors) -> dict of tensors``."""
    export_dir = Path(export_dir)
    if not (export_dir / "saved_model.pb").exists():
        raise UserError(f"no SavedModel in {export_dir}; run `export --run-dir {export_dir.parent}` first")
    loaded = tf.saved_model.load(str(export_dir))
    if signature not in loaded.signatures:
        raise UserError(f"{export_dir} has no signature {signature!r} "
                        f"(it has {', '.join(loaded.signatures)})")
    fn = loaded.signatures[signature]
    fn._rnnsuite_loaded = loaded  # keep the loaded object (and its variables) alive
    return fn



class VocabularyIndex:
    """Token -> id inside an exported graph, without a lookup-table resource.

    Keras' ``StringLookup`` holds a hash-table resource that an export must track
    explicitly; the shared exporter tracks only the model. Here each token is
    fingerprinted (FarmHash Fingerprint64, stable across platforms and versions) and
    searched in a sorted constant, so the graph carries plain tensors. ``reserved``
    tokens (padding, start/end markers) are never produced from input text; anything
    not in the vocabulary gets ``unknown``'s id. Collisions are checked when built.
    """

    BUCKETS = 2 ** 63 - 1

    def __init__(self, vocabulary: list[str], unknown: str, reserved=("",)):
        skip = {unknown, *reserved}
        words = [(i, t) for i, t in enumerate(vocabulary) if t not in skip]
        self.unknown_id = vocabulary.index(unknown)
        prints = tf.strings.to_hash_bucket_fast(tf.constant([t for _, t in words] or [""], tf.string),
                                                self.BUCKETS).numpy()
        if words and len(set(prints.tolist())) != len(words):
            raise DataError("two vocabulary tokens share a 64-bit fingerprint; change data.min_freq or the "
                            "vocabulary size")
        order = np.argsort(prints, kind="stable")
        self.keys = tf.constant(prints[order], tf.int64)
        ids = np.array([i for i, _ in words], "int32")[order] if words else np.array([self.unknown_id], "int32")
        self.ids = tf.constant(ids, tf.int32)

    def __call__(self, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        prints = tf.strings.to_hash_bucket_fast(tokens.flat_values, self.BUCKETS)
        position = tf.minimum(tf.searchsorted(self.keys, prints), tf.size(self.keys) - 1)
        found = tf.equal(tf.gather(self.keys, position), prints)
        return tokens.with_flat_values(tf.where(found, tf.gather(self.ids, position), self.unknown_id))
