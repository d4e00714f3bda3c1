"""A reference host for the ONNX and LiteRT exports: raw inputs in, ``serving_default``'s outputs out.

It needs numpy and onnxruntime (``ai-edge-litert`` for a LiteRT export) and nothing of TensorFlow or of
this project, so it can be copied beside an export. ``preprocessing.json`` (written next to the model by
`common.export_formats`) holds what it needs::

    client = Client("runs/forecasting/demo/export/onnx")          # or .../export/litert
    client(history=windows)                      # forecasting -> {"forecast": [batch, horizon, targets(, q)]}
    client(text=["a fine film"])                 # sentiment -> {"label", "label_id", "probabilities"}

Forecasting's raw inputs are the SavedModel's: ``history`` in the data's units, ``future_covariates``
(data.future_covariate_columns for the horizon) and ``future_time`` (int64 Unix seconds of the horizon)
when the model takes them. Sentiment takes the texts (already tokenized when data.tokenizer is not none).
"""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np

# Keras TextVectorization's punctuation of strip_punctuation / lower_and_strip_punctuation.
KERAS_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
RE2_SPACE = "\t\n\f\r "  # RE2's \s, which lower_and_split_punctuation keeps
SPLIT_SPACE = re.compile("[ \t\n\v\f\r]+")  # what tf.strings.split splits on


class Client:
    """An ``export/onnx`` or ``export/litert`` folder as ``client(**raw inputs) -> outputs``."""

    def __init__(self, folder, threads: int | None = None):
        folder = Path(folder)
        self.spec = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
        self.task, self.format = self.spec["task"], self.spec["format"]
        self.output_names = self.spec["outputs"]
        model = folder / self.spec["model"]
        if self.format == "onnx":
            self._run = _OnnxRunner(model, threads)
        elif self.format == "litert":
            self._run = _LiteRTRunner(model, threads)
        else:
            raise ValueError(f"{folder}: unknown format {self.format!r}")
        if self.task not in ("forecasting", "sentiment"):
            raise ValueError(f"{folder}: no reference client for the {self.task} task")

    def __call__(self, **raw) -> dict:
        if self.task == "forecasting":
            return self.forecast(**raw)
        return self.classify(**raw)

    def core(self, inputs: dict) -> dict:
        """The exported core on its own inputs (numpy), ``{output: array}``."""
        return self._run(inputs, self.output_names)

    # ---- forecasting ------------------------------------------------------------------
    def forecast(self, history, future_covariates=None, future_time=None) -> dict:
        s = self.spec
        mean, scale = np.asarray(s["mean"], np.float32), np.asarray(s["scale"], np.float32)
        inputs = {"history": (np.asarray(history, np.float32) - mean) / scale}
        known = []
        if s["future_covariate_columns"]:
            idx = [s["features"].index(c) for c in s["future_covariate_columns"]]
            known.append((np.asarray(future_covariates, np.float32) - mean[idx]) / scale[idx])
        if s["calendar_features"]:
            known.append(calendar_features(future_time, s["calendar_features"], s["calendar_largest"]))
        if known:
            inputs["future_covariates"] = np.concatenate(known, axis=-1).astype(np.float32)
        scaled = self.core(inputs)["forecast_scaled"]
        n = len(s["targets"])
        out_scale, out_mean = scale[:n], mean[:n]
        if s["quantiles"]:
            out_scale, out_mean = out_scale[:, None], out_mean[:, None]
        return {"forecast": scaled * out_scale + out_mean}

    # ---- sentiment --------------------------------------------------------------------
    def token_ids(self, texts) -> np.ndarray:
        """``[len(texts), length]`` int64 ids as the model's TextVectorization and clip make them (LiteRT:
        padded to max_length; ONNX: to the longest text, at least 1)."""
        s = self.spec
        index = getattr(self, "_index", None)
        if index is None:
            index = self._index = {token: i for i, token in enumerate(s["vocabulary"])}
        rows = [[index.get(token, s["oov_id"]) for token in tokens(text, s["standardize"])][:s["max_length"]]
                for text in texts]
        width = s["max_length"] if self.format == "litert" else max([1, *map(len, rows)])
        ids = np.full((len(rows), width), s["pad_id"], np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
        return ids

    def classify(self, text) -> dict:
        texts = [text] if isinstance(text, str) else list(text)
        probabilities = self.core({"ids": self.token_ids(texts)})["probabilities"]
        label_id = probabilities.argmax(axis=-1).astype(np.int32)
        labels = np.array([self.spec["labels"][i] for i in label_id], dtype=str)
        return {"label": labels, "label_id": label_id, "probabilities": probabilities}


def standardize(text: str, rule: str) -> str:
    """``model.standardize``'s rule, as the model's TextVectorization applies it."""
    if rule in ("lower", "lower_and_strip_punctuation"):
        text = text.translate(ASCII_LOWER)  # tf.strings.lower without an encoding: ASCII letters only
    if rule in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = KERAS_PUNCTUATION.sub("", text)
    if rule == "lower_and_split_punctuation":
        text = "".join(ch if unicodedata.category(ch)[0] in "LNM" or ch == "_" or ch in RE2_SPACE
                       else f" {ch} " for ch in text.lower())
    return text


def tokens(text: str, rule: str) -> list[str]:
    return [t for t in SPLIT_SPACE.split(standardize(text, rule)) if t]


def calendar_features(seconds, names, largest) -> np.ndarray:
    """Calendar features of int64 Unix seconds ``[...]`` -> float32 ``[..., len(names)]`` (value / largest
    - 0.5), as `tasks.forecasting.calendar` computes them in the graph (H. Hinnant's civil dates)."""
    seconds = np.asarray(seconds, np.int64)
    days = np.floor_divide(seconds, 86400)
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2).astype(np.int64)
    y = year - 1
    era_y = np.floor_divide(y, 400)
    yoe_y = y - era_y * 400
    before = era_y * 146097 + yoe_y * 365 + yoe_y // 4 - yoe_y // 100 + 306 - 719468
    fields = {"minute_of_hour": (seconds // 60) % 60, "hour_of_day": (seconds // 3600) % 24,
              "day_of_week": (days + 3) % 7, "day_of_month": day - 1, "day_of_year": days - before,
              "month_of_year": month - 1}
    values = [fields[n].astype(np.float32) / np.float32(largest[n]) - np.float32(0.5) for n in names]
    return np.stack(values, axis=-1).astype(np.float32)


class _OnnxRunner:
    def __init__(self, model, threads):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def __call__(self, inputs, outputs):
        feeds = {i.name: np.asarray(inputs[i.name]) for i in self.session.get_inputs()}
        return dict(zip(outputs, self.session.run(outputs, feeds)))


class _LiteRTRunner:
    """Batch-1 LiteRT model, run row by row."""

    def __init__(self, model, threads):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(model), num_threads=threads)
        self.interpreter.allocate_tensors()

    def __call__(self, inputs, outputs):
        it = self.interpreter
        names = list(inputs)
        details = {_match(d["name"], names): d for d in it.get_input_details()}
        out_details = it.get_output_details()
        rows = len(next(iter(inputs.values())))
        results = {name: [] for name in outputs}
        for row in range(rows):
            for name, detail in details.items():
                it.set_tensor(detail["index"], np.asarray(inputs[name][row:row + 1], detail["dtype"]))
            it.invoke()
            got = {d["name"]: it.get_tensor(d["index"]) for d in out_details}
            for name in outputs:
                key = _match(name, list(got), reverse=True) if len(got) > 1 else next(iter(got))
                results[name].append(got[key])
        return {name: np.concatenate(values) for name, values in results.items()}


def _match(name, candidates, reverse=False):
    for candidate in candidates:
        a, b = (candidate, name) if reverse else (name, candidate)
        if a == b or a.split(":")[0].endswith(b):
            return candidate
    raise ValueError(f"LiteRT tensor {name!r} matches none of {candidates}")
