"""SavedModel export of a task's serving functions, and loading it back for `predict`.

The exported graph carries all preprocessing (scaling, vocabularies, decoding
loops), so serving needs TensorFlow only, not this project's code.
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common.config import shown_message
from common.errors import DataError, UserError
from common.io import atomic_dir


def build_archive(task, model, config, prepared):
    """An ExportArchive with every signature the task declares (``serving_default`` first)."""
    signatures = task.serving_functions(model, config, prepared)
    if "serving_default" not in signatures:
        raise ValueError(f"task {task.name} declares no serving_default signature")
    archive = keras.export.ExportArchive()
    archive.track(model)
    tracked = []
    for signature in signatures.values():
        tracked.extend(r for r in signature.track if not any(r is seen for seen in tracked))
    for resource in tracked:
        if not isinstance(resource, tf.saved_model.Asset):
            archive.track(resource)
    assets = [resource for resource in tracked if isinstance(resource, tf.saved_model.Asset)]
    if assets:
        # The archive saves only the resources (lookup tables) of what it tracks; files reach assets/
        # as an attribute of the object it saves (the loaded export's ``assets``).
        archive._tf_trackable.assets = assets
    ordered = ["serving_default"] + [name for name in signatures if name != "serving_default"]
    for name in ordered:
        signature = signatures[name]
        # Autograph on, so tasks may write Python loops/conditionals over tensors (decode loops).
        fn = tf.function(signature.fn, input_signature=signature.input_signature, autograph=True)
        archive.add_endpoint(name, fn, input_signature=signature.input_signature)
    return archive, signatures


def write_export(task, model, config, prepared, export_dir, add_files=None) -> dict:
    """Write the SavedModel atomically into ``export_dir``; returns the task's signatures.

    The other formats of ``export.formats`` (`common.export_formats`: ``onnx/``, ``litert/``) are written
    and checked inside the same folder before it is swapped in, so an export holds all of them or none.
    ``add_files(folder, signatures)`` may add files (the model card) before the folder is swapped in.
    """
    archive, signatures = build_archive(task, model, config, prepared)
    export_config = getattr(config, "export", None)
    formats = [f for f in getattr(export_config, "formats", []) if f != "savedmodel"]
    with atomic_dir(export_dir) as tmp:
        archive.write_out(str(tmp), verbose=False)
        if formats:
            from common.export_formats import write_formats

            write_formats(task, model, config, prepared, tmp)
        if add_files is not None:
            add_files(tmp, signatures)
    return signatures


def check_export(export_dir) -> None:
    """Refuse a damaged or partial SavedModel with one line naming the file and the fix, before anything
    loads it (TensorFlow's own errors are tracebacks that blame devices or file patterns).

    Every variable is read once: the tensor bundle checks each one's checksum, so a truncated or
    corrupted ``variables/`` is caught here rather than half-way through serving."""
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir = Path(export_dir)
    again = f"re-run `export --run-dir {export_dir.parent}` to write it anew"
    pb = export_dir / "saved_model.pb"
    if not pb.is_file():
        what = "a folder" if pb.is_dir() else "missing"
        raise UserError(f"{pb} is {what}: the export is incomplete; {again}")
    try:
        proto = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    except Exception as exc:  # noqa: BLE001 - any parse failure means the file is not a SavedModel
        raise UserError(f"{pb} is damaged (not a SavedModel: {shown_message(exc)}); {again}") from None
    if not proto.meta_graphs:
        raise UserError(f"{pb} is damaged (it holds no graph); {again}")
    index = export_dir / "variables" / "variables.index"
    if not index.is_file():
        raise UserError(f"{export_dir / 'variables'} is incomplete ({index.name} is missing); {again}")
    try:
        reader = tf.train.load_checkpoint(str(index.with_suffix("")))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as exc:  # noqa: BLE001 - DataLossError, NotFoundError, OutOfRange...: all a damaged file
        reason = shown_message(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
        raise UserError(f"{export_dir / 'variables'} is damaged ({reason}); {again}") from None


def load_op_libraries(export_dir) -> None:
    """Register the ops an export uses beyond TensorFlow's own before loading it, or say in one line what
    to install: a subword run's graph tokenizes with TensorFlow Text's SentencePiece ops
    (`common.data.subword`), which exist only once ``tensorflow_text`` is imported (TensorFlow Serving
    ships them). TensorFlow's own error for a missing op is a long traceback about an unregistered op."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    proto = saved_model_pb2.SavedModel.FromString((Path(export_dir) / "saved_model.pb").read_bytes())
    used = {node.op for graph in proto.meta_graphs for node in graph.graph_def.node}
    used |= {node.op for graph in proto.meta_graphs for function in graph.graph_def.library.function
             for node in function.node_def}
    unknown = sorted(op for op in used if op_def_registry.get(op) is None)
    if not unknown:
        return
    try:
        import tensorflow_text  # noqa: F401 - importing it registers its ops
    except ImportError:
        raise UserError(f"{export_dir} tokenizes with TensorFlow Text ops ({', '.join(unknown[:3])}); "
                        "install them to load it: pip install tensorflow-text==2.21.1 (clients of the "
                        "SavedModel `import tensorflow_text` before tf.saved_model.load)") from None
    missing = [op for op in unknown if op_def_registry.get(op) is None]
    if missing:
        raise UserError(f"{export_dir} uses ops this TensorFlow does not have ({', '.join(missing[:3])}); "
                        "load it with the TensorFlow version that wrote it (see requirements.txt)")


def load_serving(export_dir, signature="serving_default"):
    """The exported signature as a callable ``fn(**tensors) -> dict of tensors``."""
    export_dir = Path(export_dir)
    if not (export_dir / "saved_model.pb").exists():
        raise UserError(f"no SavedModel in {export_dir}; run `export --run-dir {export_dir.parent}` first")
    check_export(export_dir)
    load_op_libraries(export_dir)
    try:
        loaded = tf.saved_model.load(str(export_dir))
    except Exception as exc:  # noqa: BLE001 - the checks above passed, yet TensorFlow cannot rebuild it
        raise UserError(f"{export_dir} cannot be loaded ({shown_message(exc)}); re-run "
                        f"`export --run-dir {export_dir.parent}` to write it anew") from None
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
