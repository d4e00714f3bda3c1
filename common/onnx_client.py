"""A reference host for the ONNX and LiteRT exports: raw inputs in, ``serving_default``'s outputs out.

It needs numpy and onnxruntime (``ai-edge-litert`` for a LiteRT export) and nothing of TensorFlow or of
this project, so it can be copied beside an export. ``preprocessing.json`` (written next to the model by
`common.export_formats`) holds what it needs::

    client = Client("runs/forecasting/demo/export/onnx")          # or .../export/litert
    client(history=windows)                      # forecasting -> {"forecast": [batch, horizon, targets(, q)]}
    client(text=["a fine film"])                 # sentiment -> {"label", "label_id", "probabilities"}
    client(tokens=[["EU", "rejects", "German"]])  # ner -> {"tags"}; client.sentences(["EU rejects ..."])
    client(prompt=["the cat"])                   # language model, greedy -> {"text"}; also client.score(text)
    client(source=["a sentence ."])              # translation, greedy -> {"translation", "tokens", "score"}

Forecasting's raw inputs are the SavedModel's: ``history`` in the data's units, ``future_covariates``
(data.future_covariate_columns for the horizon) and ``future_time`` (int64 Unix seconds of the horizon)
when the model takes them. Sentiment takes the texts (already tokenized when data.tokenizer is not none).
NER takes padded token strings ("" pads) like ``serving_default``. The language model and translation
decode greedily inside the ONNX graph: they answer like the SavedModel's greedy signatures (``generate``
with temperature 0; ``translate_greedy``), which are ``serving_default`` when the run's config decodes
greedily (model.generation.temperature 0 / model.beam_width 1).
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
ASCII_DIGITS = "0123456789"  # RE2's \d
# Translation's detokenizer (`tasks.translation.data.detokenize`); RE2 and Python agree on these patterns.
DETOKENIZE = [(re.compile(r" ([.,!?;:%)\]}])"), r"\1"), (re.compile(r"([(\[{]) "), r"\1"),
              (re.compile(r" ?(['’-]) ?"), r"\1")]
TASKS = ("forecasting", "sentiment", "ner", "language_model", "translation")


class Client:
    """An ``export/onnx`` or ``export/litert`` folder as ``client(**raw inputs) -> outputs``."""

    def __init__(self, folder, threads: int | None = None):
        folder = Path(folder)
        self.spec = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
        self.task, self.format = self.spec["task"], self.spec["format"]
        self.output_names = self.spec["outputs"]
        if self.task not in TASKS:
            raise ValueError(f"{folder}: no reference client for the {self.task} task")
        model = folder / self.spec["model"]
        if self.format == "onnx":
            self._run = OnnxRunner(model, threads)
        elif self.format == "litert":
            self._run = LiteRTRunner(model, threads, self.spec.get("output_tensors"))
        else:
            raise ValueError(f"{folder}: unknown format {self.format!r}")

    def __call__(self, **raw) -> dict:
        run = {"forecasting": self.forecast, "sentiment": self.classify, "ner": self.tag,
               "language_model": self.generate, "translation": self.translate}[self.task]
        return run(**raw)

    def core(self, inputs: dict) -> dict:
        """The exported core on its own inputs (numpy), ``{output: array}``."""
        return self._run(inputs, self.output_names)

    def _index(self, key: str, offset: int = 0) -> dict:
        """``{token: position + offset}`` of the spec's list ``key``, built once."""
        cache = self.__dict__.setdefault("_indexes", {})
        if key not in cache:
            cache[key] = {token: i + offset for i, token in enumerate(self.spec[key])}
        return cache[key]

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
        index = self._index("vocabulary")
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

    # ---- ner --------------------------------------------------------------------------
    def ner_inputs(self, tokens) -> dict:
        """Padded token strings ``[batch, words]`` ("" pads) -> the core's id inputs, as the tagger's
        in-graph lookups make them (LiteRT: padded to max_words)."""
        s = self.spec
        rows = [list(row) for row in tokens]
        width = max([1, *map(len, rows)])
        if self.format == "litert":
            if width > s["max_words"]:
                raise ValueError(f"a sentence of {width} words; this LiteRT export takes at most "
                                 f"{s['max_words']} (use the ONNX export for longer ones)")
            width = s["max_words"]
        words, chars = self._index("vocabulary", 2), self._index("chars", 2)
        inputs = {"word_ids": np.zeros((len(rows), width), np.int64)}
        names = {i["name"] for i in s["inputs"]}
        if "char_ids" in names:
            inputs["char_ids"] = np.zeros((len(rows), width, s["max_word_chars"]), np.int64)
        if "casing_ids" in names:
            inputs["casing_ids"] = np.zeros((len(rows), width), np.int64)
        for i, row in enumerate(rows):
            for j, token in enumerate(row):
                if token == "":
                    continue
                inputs["word_ids"][i, j] = words.get(token.lower() if s["lowercase"] else token, 1)
                if "char_ids" in inputs:
                    cut = token[:s["max_word_chars"]]
                    inputs["char_ids"][i, j, :len(cut)] = [chars.get(c, 1) for c in cut]
                if "casing_ids" in inputs:
                    inputs["casing_ids"][i, j] = casing_class(token)
        return inputs

    def tag(self, tokens) -> dict:
        """``serving_default``: ``tags [batch, words]`` in the data's scheme, "" at padding."""
        rows = [[t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in row] for row in tokens]
        width = max([0, *map(len, rows)])
        ids = self.core(self.ner_inputs(rows))["tag_ids"]
        out = np.full((len(rows), width), "", dtype=object)
        for i, row in enumerate(rows):
            real = [j for j, token in enumerate(row) if token != ""]
            names = [self.spec["tags"][ids[i, j]] for j in real]
            for j, tag in zip(real, convert_scheme(names, self.spec["scheme"])):
                out[i, j] = tag
        return {"tags": out.astype(str)}

    def sentences(self, sentences) -> dict:
        """The ``sentences`` signature: one string per sentence -> its tokens and tags, each joined by
        spaces."""
        pieces = [[t for t in SPLIT_SPACE.split(text) if t] for text in sentences]
        width = max([0, *map(len, pieces)])
        tags = self.tag([p + [""] * (width - len(p)) for p in pieces])["tags"]
        return {"tokens": np.array([" ".join(p) for p in pieces], dtype=str),
                "tags": np.array([" ".join(tags[i, :len(p)]) for i, p in enumerate(pieces)], dtype=str)}

    # ---- language model ---------------------------------------------------------------
    def lm_ids(self, texts) -> np.ndarray:
        """``[boundary] + token ids`` per text, padded with pad_id, as the exported graph looks them up."""
        s = self.spec
        index = self._index("vocabulary")
        unknown = s["unk_id"]
        rows = []
        for text in texts:
            pieces = [t for t in SPLIT_SPACE.split(text) if t] if s["granularity"] == "word" else list(text)
            rows.append([s["boundary_id"]] + [unknown if p in ("", s["vocabulary"][unknown])
                                              else index.get(p, unknown) for p in pieces])
        ids = np.full((len(rows), max(map(len, rows))), s["pad_id"], np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
        return ids

    def generate(self, prompt, max_tokens=None) -> dict:
        """Greedy continuations ``{"text"}`` of the prompts (the SavedModel's ``generate`` with temperature
        0), at most ``max_tokens`` (default model.generation.max_tokens) tokens each."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        limit = self.spec["max_tokens"] if max_tokens is None else max_tokens
        out = self.core({"ids": self.lm_ids(prompts), "max_tokens": np.full(len(prompts), limit, np.int64)})
        words, joiner = self.spec["vocabulary"], " " if self.spec["granularity"] == "word" else ""
        texts = [joiner.join(words[t] for t in row[:n]) for row, n in zip(out["tokens"], out["lengths"])]
        return {"text": np.array(texts, dtype=str)}

    def score(self, text) -> dict:
        """The ``score`` signature: natural-log ``log_likelihood`` of each text's tokens and its closing
        boundary token, and ``perplexity``."""
        texts = [text] if isinstance(text, str) else list(text)
        ids = self.lm_ids(texts)
        log_probs = self.core({"ids": ids, "max_tokens": np.zeros(len(texts), np.int64)})["log_probs"]
        pad = self.spec["pad_id"]
        likelihood, counts = [], []
        for row, probs in zip(ids, log_probs):
            n = int(np.sum(row != pad))
            targets = np.append(row[1:n], self.spec["boundary_id"])
            likelihood.append(np.sum(probs[np.arange(n), targets], dtype=np.float32))
            counts.append(n)
        likelihood = np.array(likelihood, np.float32)
        return {"log_likelihood": likelihood,
                "perplexity": np.exp(-likelihood / np.array(counts, np.float32)).astype(np.float32)}

    # ---- translation ------------------------------------------------------------------
    def source_ids(self, texts) -> np.ndarray:
        """Source token ids as the exported graph makes them: word tokens (`translation_tokens`) cut to
        max_length - 1, looked up (reserved or unknown tokens: unk_id), then end_id, padded with pad_id."""
        s = self.spec
        index, reserved = self._index("source_vocab"), set(s["reserved"])
        rows = [[s["unk_id"] if t in reserved else index.get(t, s["unk_id"])
                 for t in translation_tokens(text, s["lowercase"])[:s["max_length"] - 1]] + [s["end_id"]]
                for text in texts]
        ids = np.full((len(rows), max(map(len, rows))), s["pad_id"], np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
        return ids

    def translate(self, source) -> dict:
        """Greedy translations (the SavedModel's ``translate_greedy``): ``translation`` (detokenized),
        ``tokens`` (space-joined) and ``score`` (summed log-probability, end token included)."""
        texts = [source] if isinstance(source, str) else list(source)
        out = self.core({"source_ids": self.source_ids(texts)})
        words = self.spec["target_vocab"]
        tokens = [[words[t] for t in row[:n]] for row, n in zip(out["tokens"], out["lengths"])]
        return {"translation": np.array([detokenize(t) for t in tokens], dtype=str),
                "tokens": np.array([" ".join(t) for t in tokens], dtype=str), "score": out["score"]}


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




def casing_class(token: str) -> int:
    """The tagger's casing id of a token (`tasks.ner.layers.CASING_PATTERNS`, RE2 full matches, the
    first that matches wins; 0 padding, 1 none): numeric, all_upper, initial_upper, has_digit, lower,
    mixed. RE2's ``\\d`` is ASCII, its ``.`` no newline; ``\\pL`` / ``\\p{Lu}`` / ``\\p{Ll}`` are Unicode
    categories."""
    if token == "":
        return 0
    category = [unicodedata.category(c) for c in token]
    letters = [c[0] == "L" for c in category]
    digit = any(c in ASCII_DIGITS for c in token)
    one_line = "\n" not in token
    if digit and not any(letters):
        return 2
    if "Ll" not in category and "Lu" in category:
        return 3
    if category[0] == "Lu" and "\n" not in token[1:]:
        return 4
    if digit and one_line:
        return 5
    if all(c == "Ll" for c in category):
        return 6
    if any(letters) and one_line:
        return 7
    return 1


def convert_scheme(tags: list[str], target: str) -> list[str]:
    """One sentence's tags in any scheme -> ``target`` (iob1, iob2, bioes), by the rules of
    `tasks.ner.tags.convert_tags_tf`: a token begins an entity if its prefix is B/S, or the previous
    token is O, of another type or ended one (E/S); it ends one if the next does not continue it."""
    outside = [t == "O" for t in tags]
    prefix = ["O" if o else t[:1] for t, o in zip(tags, outside)]
    kind = ["" if o else re.sub("^[BIES]-", "", t) for t, o in zip(tags, outside)]
    n = len(tags)
    begins = []
    for i in range(n):
        prev_kind = kind[i - 1] if i else ""
        prev_ended = prefix[i - 1] in ("E", "S") if i else True
        begins.append(not outside[i] and (prefix[i] in ("B", "S") or prev_kind != kind[i] or prev_ended))
    out = []
    for i in range(n):
        if outside[i]:
            out.append("O")
            continue
        next_begins = begins[i + 1] if i + 1 < n else True
        next_kind = kind[i + 1] if i + 1 < n else ""
        ends = next_begins or next_kind != kind[i]
        prev_kind = kind[i - 1] if i else ""
        if target == "iob2":
            mark = "B" if begins[i] else "I"
        elif target == "bioes":
            mark = ("S" if ends else "B") if begins[i] else ("E" if ends else "I")
        else:
            mark = "B" if begins[i] and prev_kind == kind[i] else "I"
        out.append(f"{mark}-{kind[i]}")
    return out


def translation_tokens(text: str, lowercase: bool) -> list[str]:
    """`tasks.translation.data.tokenize`: Unicode lower-casing (ICU's full mapping, as str.lower), spaces
    around every character that is not a letter, number or RE2 whitespace, whitespace split."""
    if lowercase:
        text = text.lower()
    text = "".join(ch if unicodedata.category(ch)[0] in "LN" or ch in RE2_SPACE else f" {ch} " for ch in text)
    return [t for t in SPLIT_SPACE.split(text) if t]


def detokenize(tokens: list[str]) -> str:
    text = " ".join(tokens)
    for pattern, replacement in DETOKENIZE:
        text = pattern.sub(replacement, text)
    return text


class OnnxRunner:
    """An ONNX model file (or its bytes) on onnxruntime's CPU provider: ``runner(inputs, outputs)``."""

    def __init__(self, model, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])

    def __call__(self, inputs, outputs):
        feeds = {i.name: np.asarray(inputs[i.name]) for i in self.session.get_inputs()}
        return dict(zip(outputs, self.session.run(outputs, feeds)))


class LiteRTRunner:
    """A batch-1 LiteRT model file (or its bytes), run row by row; ``output_tensors`` maps each output
    name to its LiteRT tensor (preprocessing.json's ``output_tensors``; without it, names are matched)."""

    def __init__(self, model, threads: int | None = None, output_tensors: dict | None = None):
        from ai_edge_litert.interpreter import Interpreter

        source = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
        self.interpreter = Interpreter(**source, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.output_tensors = output_tensors or {}

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
                if name in self.output_tensors:
                    key = self.output_tensors[name]
                else:
                    key = _match(name, list(got), reverse=True) if len(got) > 1 else next(iter(got))
                results[name].append(got[key])
        return {name: np.concatenate(values) for name, values in results.items()}


def _match(name, candidates, reverse=False):
    for candidate in candidates:
        a, b = (candidate, name) if reverse else (name, candidate)
        if a == b or a.split(":")[0].endswith(b):
            return candidate
    raise ValueError(f"LiteRT tensor {name!r} matches none of {candidates}")
