"""Serving raw text from the SavedModel (generate and score), and generating for a user's prompts file.

Both signatures tokenize inside the graph (words: whitespace split; characters:
Unicode code points), look tokens up without a hash-table resource (see
`VocabularyIndex`) and run the recurrent weights with explicit states, so the
SavedModel needs TensorFlow only.

``serving_default``: ``prompt`` string ``[batch]`` -> ``text`` (the continuation,
without the prompt; a word model's generation stops at its first ``<eos>``, which
is left out, while a character model's goes on across newlines, which are text), generated with the
settings of ``model.generation`` (baked into the graph: a SavedModel signature has
no optional inputs, so the defaults are their own signature). ``generate``: the same
with every setting as an input column, one value per prompt (``max_tokens`` int32, ``temperature`` float32,
``top_k`` int32, ``top_p`` float32, ``seed`` int32, all ``[batch]``), so TensorFlow
Serving's row format (every input in every instance) works; temperature 0 is
greedy decoding; with ``model.generation.beam_width`` > 1 both run beam search
and the sampling settings are not used. ``score``: ``text`` string ``[batch]`` ->
``log_likelihood`` (natural log, summed over the text's tokens and its closing
boundary token) and ``perplexity`` per text.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from common import config as cfg
from common.data.batching import chunked
from common.data.text import progress_lines
from common.errors import DataError
from common.export import VocabularyIndex
from common.io import atomic_path
from common.task import Signature
from tasks.language_model.data import BOUNDARY_ID, PAD, PAD_ID, UNK_ID, UNK, boundary
from tasks.language_model.model import LanguageModelGraph, build_language_model

PREDICT_BATCH = 64


class Generator:
    """Raw strings in and out: the body of both exported signatures (TensorFlow ops only)."""

    def __init__(self, model, vocabulary: list[str], granularity: str, beam_width: int = 1):
        self.graph = LanguageModelGraph(model)
        self.lookup = VocabularyIndex(vocabulary, UNK, reserved=(PAD,))
        self.tokens = tf.constant(vocabulary)
        self.granularity = granularity
        self.beam_width = beam_width
        # <eos> ends a word model's line: what it would generate after it is another text, so the search
        # stops there (per row, inside the graph). A character model's boundary, the newline, is text.
        self.end_id = BOUNDARY_ID if granularity == "word" else -1

    @staticmethod
    def join(tokens: list[str], granularity: str) -> str:
        return " ".join(tokens) if granularity == "word" else "".join(tokens)

    def ids(self, texts):
        """``[boundary] + tokens`` per text, padded, and the lengths."""
        if self.granularity == "word":
            pieces = tf.strings.split(texts)
        else:
            pieces = tf.strings.unicode_split(texts, "UTF-8")
        ids = self.lookup(pieces)
        start = tf.fill([tf.shape(texts)[0], 1], BOUNDARY_ID)
        ids = tf.concat([tf.RaggedTensor.from_tensor(start), ids], axis=1)
        return ids.to_tensor(0), tf.cast(ids.row_lengths(), tf.int32)

    def generate(self, prompt, max_tokens, temperature, top_k, top_p, seed):
        tf.debugging.assert_positive(max_tokens, message="max_tokens must be at least 1")
        ids, lengths = self.ids(prompt)
        decoded = self.graph.generate(ids, lengths, max_tokens, temperature, top_k, top_p, seed,
                                      self.beam_width, self.end_id)
        lengths = tf.minimum(decoded.lengths, max_tokens)  # beam search runs every row to the batch's maximum
        words = tf.RaggedTensor.from_tensor(tf.gather(self.tokens, decoded.tokens), lengths=lengths)
        separator = " " if self.granularity == "word" else ""
        return {"text": tf.strings.reduce_join(words, axis=-1, separator=separator)}

    def score(self, text):
        ids, lengths = self.ids(text)
        closing = tf.fill([tf.shape(text)[0], 1], BOUNDARY_ID)
        ids = tf.tensor_scatter_nd_update(tf.pad(ids, [[0, 0], [0, 1]]),
                                          tf.stack([tf.range(tf.shape(ids)[0]), lengths], axis=1), closing[:, 0])
        log_likelihood, count = self.graph.log_likelihood(ids)
        return {"log_likelihood": log_likelihood, "perplexity": tf.exp(-log_likelihood / count)}


def signatures(model, config, vocabulary: list[str]) -> dict:
    generator = Generator(model, vocabulary, config.data.granularity, config.model.generation.beam_width)
    g = config.model.generation
    row = lambda dtype, name: tf.TensorSpec([None], dtype, name=name)  # noqa: E731

    def configured(prompt):
        n = tf.shape(prompt)[0]
        return generator.generate(prompt, tf.fill([n], g.max_tokens), tf.fill([n], float(g.temperature)),
                                  tf.fill([n], g.top_k), tf.fill([n], float(g.top_p)), tf.fill([n], g.seed))

    return {"serving_default": Signature(configured, [row(tf.string, "prompt")]),
            "generate": Signature(generator.generate,
                                  [row(tf.string, "prompt"), row(tf.int32, "max_tokens"),
                                   row(tf.float32, "temperature"), row(tf.int32, "top_k"),
                                   row(tf.float32, "top_p"), row(tf.int32, "seed")]),
            "score": Signature(generator.score, [row(tf.string, "text")])}


def settings(config, n: int) -> dict:
    """The configured generation settings as ``[n]`` columns of the ``generate`` signature's inputs."""
    g = config.model.generation
    return {"max_tokens": np.full(n, g.max_tokens, "int32"), "temperature": np.full(n, g.temperature, "float32"),
            "top_k": np.full(n, g.top_k, "int32"), "top_p": np.full(n, g.top_p, "float32"),
            "seed": np.full(n, g.seed, "int32")}


def serving_example(config, prepared) -> dict:
    """Two prompts from the test text (one cut mid-way) and an empty prompt."""
    vocabulary = prepared.state["vocabulary"]
    first = [vocabulary[i] for i in prepared.ids["test"][:12]]
    prompts = [Generator.join(first[:6], config.data.granularity), Generator.join(first[6:], config.data.granularity),
               ""]
    return {"prompt": np.array(prompts, dtype=str)}


def reference_outputs(model, config, prepared) -> dict:
    """``score`` and greedy ``generate`` (temperature 0; left out with beam search) on the serving example
    and a text with an unknown word, found without the inference graph: tokens looked up in Python, and
    the trained weights in a copy of the training model that starts every call from zero states (line
    batching), read over the whole prefix at every step."""
    vocabulary = prepared.state["vocabulary"]
    index = {token: i for i, token in enumerate(vocabulary)}
    granularity = config.data.granularity
    fresh = build_language_model(cfg.with_values(config, {"data.batching": "line"}), len(vocabulary))
    fresh.set_weights(model.get_weights())

    def log_probs(ids: list[int]) -> np.ndarray:
        logits = np.asarray(fresh(np.array([ids], "int32"), training=False), "float64")[0]
        shifted = logits - logits.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

    def ids_of(text: str) -> list[int]:
        pieces = text.split() if granularity == "word" else list(text)
        return [BOUNDARY_ID] + [index.get(piece, UNK_ID) for piece in pieces]

    prompts = serving_example(config, prepared)["prompt"]
    texts = np.array(list(prompts) + [Generator.join(["qzxv", *vocabulary[3:5]], granularity)], dtype=str)
    likelihoods = []
    for text in texts.tolist():
        ids = ids_of(text) + [BOUNDARY_ID]
        likelihoods.append(log_probs(ids[:-1])[np.arange(len(ids) - 1), ids[1:]].sum())
    likelihoods = np.array(likelihoods, "float32")
    counts = np.array([len(ids_of(t)) for t in texts.tolist()], "float32")  # tokens + the closing boundary
    out = {"score": ({"text": texts}, {"log_likelihood": likelihoods,
                                        "perplexity": np.exp(-likelihoods / counts)})}
    if config.model.generation.beam_width > 1:
        return out
    max_tokens = config.model.generation.max_tokens
    continuations = []
    for prompt in prompts.tolist():
        ids, new = ids_of(prompt), []
        for _ in range(max_tokens):
            step = log_probs(ids)[-1]
            step[PAD_ID] = -np.inf
            if granularity == "word" and step.argmax() == BOUNDARY_ID:
                break
            new.append(int(step.argmax()))
            ids.append(new[-1])
        continuations.append(Generator.join([vocabulary[i] for i in new], granularity))
    inputs = {"prompt": prompts, **settings(config, len(prompts))}
    inputs.update(temperature=np.zeros(len(prompts), "float32"), top_k=np.zeros(len(prompts), "int32"),
                  top_p=np.ones(len(prompts), "float32"), seed=np.zeros(len(prompts), "int32"))
    out["generate"] = (inputs, {"text": np.array(continuations, dtype=str)})
    return out


def read_prompts(path: Path, config, vocabulary: list[str]) -> list[str]:
    """One prompt per line (see `iter_prompts`), as a list."""
    return list(iter_prompts(path, config, vocabulary))


def iter_prompts(path: Path, config, vocabulary: list[str]):
    """One prompt per line, read as they are used (any size; progress on a terminal); for characters,
    a prompt with characters the model never saw is refused."""
    known = set(vocabulary) | {boundary("char")} if config.data.granularity == "char" else None
    number = 0
    for number, line in progress_lines(path, config.data.encoding, "predict"):
        unknown = sorted(set(line) - known) if known is not None else None
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:5])
            raise DataError(f"{path}:{number}: characters the model never saw in training: {shown}; "
                            "remove or replace them")
        yield line
    if not number:
        raise DataError(f"{path}: the file is empty; write one prompt per line (an empty line: generate "
                        "from the start of a text)")


def predict_file(serve, config, state: dict, input_path, output_path) -> dict:
    """Continuations of every prompt line, written as JSON Lines ``{"prompt": ..., "text": ...}``
    (JSON, because a character model's continuation may contain newlines). Prompts stream through the
    model ``PREDICT_BATCH`` at a time into a temporary file that replaces ``output_path`` once all are
    done."""
    prompts = iter_prompts(Path(input_path), config, state["vocabulary"])
    prompts = itertools.chain([next(prompts)], prompts)  # a missing or empty input fails before any output
    n_prompts = 0
    with atomic_path(Path(output_path)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for chunk in chunked(prompts, PREDICT_BATCH):
            for prompt, text in zip(chunk, serve(prompt=tf.constant(chunk, tf.string))["text"].numpy()):
                handle.write(json.dumps({"prompt": prompt, "text": text.decode("utf-8")}, ensure_ascii=False)
                             + "\n")
            n_prompts += len(chunk)
    g = config.model.generation
    mode = (f"beam search, width {g.beam_width}" if g.beam_width > 1 else "greedy" if g.temperature == 0
            else f"sampling (temperature {g.temperature}, top_k {g.top_k}, top_p {g.top_p}, seed {g.seed})")
    limit = "at most " if config.data.granularity == "word" else ""  # a word model's text ends at <eos>
    return {"prompts": n_prompts, "tokens per prompt": f"{limit}{g.max_tokens}", "decoding": mode}


def export_formats(config) -> dict:
    """ONNX: next-token log-probabilities and greedy generation in one graph (any batch and length)."""
    return {"onnx": None, "litert": "LiteRT holds the fixed-shape cores (forecasting, sentiment, ner); "
                                    "generation runs a loop of data-dependent length: use onnx"}


def export_core(model, config, prepared, fmt: str):
    """The numeric core: ``ids [batch, time]`` (int64 ``[boundary] + tokens`` per text, as `Generator.ids`
    looks them up: 0 pads, 1 unknown, 2 the boundary token) and ``max_tokens [batch]`` ->
    ``log_probs [batch, time, vocabulary]`` (the natural-log next-token distribution after each id,
    from zero states, so ``score`` is their sum at the next ids and the closing boundary) and the greedy
    continuation of each prompt, ``tokens [batch, steps]`` (first ``lengths`` of each row; generation
    stops at a word model's boundary token, left out), decoded inside the graph like the ``generate``
    signature at temperature 0 (`common.export_formats.greedy_decode`, an ONNX Loop)."""
    from common.export_formats import Core, greedy_decode

    vocabulary = prepared.state["vocabulary"]
    granularity = config.data.granularity
    end_id = BOUNDARY_ID if granularity == "word" else -1

    def core(ids, max_tokens):
        graph = LanguageModelGraph(model)
        ids = tf.cast(ids, tf.int32)
        batch = tf.shape(ids)[0]
        lengths = tf.reduce_sum(tf.cast(tf.not_equal(ids, PAD_ID), tf.int32), axis=1)
        logits, _ = graph.run(ids, graph.recurrent.zero_states(batch))
        # As `LanguageModelGraph.generate`: the prompt but its last token, which the first step reads.
        prefix = tf.where(tf.range(tf.shape(ids)[1])[tf.newaxis] < (lengths - 1)[:, tf.newaxis], ids, PAD_ID)
        _, states = graph.run(prefix, graph.recurrent.zero_states(batch))
        last = tf.gather(ids, lengths - 1, batch_dims=1)
        start = (graph.recurrent.flat_states(states), last, tf.ones([batch], tf.bool))

        def step(tokens, state, constants):
            flat, pending, first = state
            tokens = tf.where(first, pending, tokens)
            step_logits, new = graph.run(tokens[:, tf.newaxis], graph.recurrent.nested_states(flat))
            step_logits = step_logits[:, 0]
            no_pad = tf.fill([tf.shape(step_logits)[0], 1], -1e9)
            step_logits = tf.concat([no_pad, step_logits[:, 1:]], axis=1)
            return step_logits, (graph.recurrent.flat_states(new), pending, tf.zeros_like(first))

        tokens, new_lengths, _ = greedy_decode(step, start, start_id=BOUNDARY_ID, end_id=end_id,
                                               max_length=tf.cast(max_tokens, tf.int32), pad_id=PAD_ID)
        return {"log_probs": tf.nn.log_softmax(logits, axis=-1), "tokens": tf.cast(tokens, tf.int64),
                "lengths": tf.cast(new_lengths, tf.int64)}

    prompts = serving_example(config, prepared)["prompt"]
    ids, _ = Generator(model, vocabulary, granularity).ids(tf.constant(prompts))
    max_tokens = config.model.generation.max_tokens
    example = {"ids": np.asarray(ids, np.int64), "max_tokens": np.full(len(prompts), max_tokens, np.int64)}
    specs = [tf.TensorSpec([None, None], tf.int64, name="ids"),
             tf.TensorSpec([None], tf.int64, name="max_tokens")]
    preprocessing = {
        "granularity": granularity, "vocabulary": list(vocabulary), "pad_id": PAD_ID, "unk_id": UNK_ID,
        "boundary_id": BOUNDARY_ID, "end_id": end_id, "max_tokens": max_tokens,
        "host": "ids: the boundary id, then each token of the text (word granularity: split on ASCII "
                "whitespace; char: Unicode code points) at its index in vocabulary (unk_id when absent, or "
                "for the padding and unknown entries), padded with pad_id; generation: vocabulary[tokens] "
                "of the first lengths of each row, joined by spaces (words) or nothing (characters); "
                "score: log_likelihood = sum of log_probs at the next ids and at the closing boundary_id, "
                "perplexity = exp(-log_likelihood / (tokens + 1)).",
    }
    return Core(core, specs, ["log_probs", "tokens", "lengths"], preprocessing, example)
