"""Scoring a trained translation model: sacreBLEU/chrF, tokenized BLEU, ROUGE, perplexity, and what
evaluation writes into the run folder (translations, attention heatmaps)."""
from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from common.data.subword import SentencePiece, from_state
from common.io import atomic_path
from common.metrics.translation import (
    masked_token_nll,
    perplexity,
    rouge_scores,
    sacrebleu_scores,
    tokenized_bleu,
)
from common.plots import save_attention_heatmap
from tasks.translation.data import (
    END,
    END_ID,
    PAD_ID,
    START_ID,
    UNK_ID,
    TranslationPrepared,
    detokenize,
    encode,
    piece_ids,
    python_tokens,
)
from tasks.translation.translator import Translator


def metrics_note(config) -> str:
    """How each score is computed, for the report: which BLEU is comparable with which published figure.

    sacreBLEU gives its signature only after scoring (it records the number of references),
    so one sentence is scored here; every evaluation scores against one reference too.
    """
    sacre = sacrebleu_scores(["."], ["."], lowercase=config.data.lowercase)
    return (f"bleu/chrf: sacreBLEU on detokenized output ({sacre['bleu_signature']}; "
            f"{sacre['chrf_signature']}); "
            "bleu_tokenized: BLEU-4 on our lower-cased word tokens (the older papers' convention; a "
            "subword model's output is detokenized and split into words first); "
            f"rouge1/2/L: rouge-score F1 x100 on tokens; perplexity: teacher-forced, no label smoothing; "
            f"decoding: beam {config.model.beam_width}, length penalty {config.model.length_penalty} "
            "(bleu_greedy: greedy)")


def evaluate(model, config, prepared: TranslationPrepared, split: str, run) -> dict:
    """Scores of beam search (and greedy decoding, ``model.eval_greedy``) on ``split``; writes
    ``translations_<split>.tsv`` and the first ``model.attention_plots`` attention heatmaps."""
    pairs = prepared.pairs[split]
    ref_tokens = prepared.target_tokens[split]
    logits_fn = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    nll, count = 0.0, 0
    for inputs, targets in prepared.split(split):
        batch_nll, batch_count = masked_token_nll(targets.numpy(), logits_fn(inputs).numpy())
        nll, count = nll + batch_nll, count + batch_count
    translator = Translator(model, prepared.state, config)
    started = time.time()
    hyps, hyp_tokens = translator.translate(pairs.sources, config.model.beam_width)
    seconds = time.time() - started
    lower = config.data.lowercase
    sacre = sacrebleu_scores(hyps, pairs.targets, lowercase=lower)
    words = word_tokens(config, hyps, hyp_tokens)
    metrics = {"bleu": sacre["bleu"], "chrf": sacre["chrf"],
               "bleu_tokenized": tokenized_bleu(words, ref_tokens),
               **rouge_scores(words, ref_tokens), "perplexity": perplexity(nll, count)}
    if config.model.eval_greedy and config.model.beam_width > 1:
        greedy, greedy_tokens = translator.translate(pairs.sources, 1)
        metrics["bleu_greedy"] = sacrebleu_scores(greedy, pairs.targets, lowercase=lower)["bleu"]
        metrics["bleu_tokenized_greedy"] = tokenized_bleu(word_tokens(config, greedy, greedy_tokens),
                                                          ref_tokens)
    metrics["sentences_per_second"] = len(hyps) / max(seconds, 1e-9)
    metrics["sentences"] = float(len(hyps))
    write_translations(run.path / f"translations_{split}.tsv", pairs, hyps)
    attention_plots(translator, prepared, split, hyp_tokens, run, config.model.attention_plots)
    return metrics


def word_tokens(config, translations, tokens) -> list[list[str]]:
    """The words tokenized BLEU and ROUGE score: a word model's output tokens, or a subword model's
    detokenized output split into words as the references are."""
    if config.data.granularity == "sentencepiece":
        return python_tokens(translations, config.data.lowercase)
    return tokens


def reference_outputs(model, config, prepared: TranslationPrepared, example: dict) -> dict:
    """``translate_greedy``'s tokens and translations of ``example`` found without the inference graph: the
    sources tokenized and looked up in Python (`python_tokens`, `encode`; a subword run's pieces by the
    ``sentencepiece`` library), then greedy decoding through the teacher-forced training model fed its
    own output so far (padding and the start token, and a subword run's unknown piece, are never chosen,
    as in decoding), the ids named from the state's target vocabulary (and decoded to text by the
    library)."""
    sources = example["source"].tolist()
    subword = config.data.granularity == "sentencepiece"
    if subword:
        rows = [ids[: config.data.max_length - 1] + [END_ID]
                for ids in piece_ids(prepared.state, "source", sources, config.data.lowercase)]
    else:
        index = {word: i for i, word in enumerate(prepared.state["source_vocab"])}
        tokens = python_tokens(sources, config.data.lowercase)
        rows = [encode(sentence, index, config.data.max_length) for sentence in tokens]
    banned = [PAD_ID, START_ID] + ([UNK_ID] if subword else [])
    source = np.zeros((len(rows), max(len(row) for row in rows)), "int32")
    for i, row in enumerate(rows):
        source[i, :len(row)] = row
    outputs, done = [[] for _ in rows], [False] * len(rows)
    for _ in range(config.model.max_output_length):
        if all(done):
            break
        target_in = np.zeros((len(rows), 1 + max(len(out) for out in outputs)), "int32")
        target_in[:, 0] = START_ID
        for i, out in enumerate(outputs):
            target_in[i, 1:1 + len(out)] = out
        logits = np.asarray(model({"source": source, "target_in": target_in}, training=False))
        for i, out in enumerate(outputs):
            if done[i]:
                continue
            scores = logits[i, len(out)].copy()
            scores[banned] = -np.inf
            token = int(scores.argmax())
            if token == END_ID:
                done[i] = True
            else:
                out.append(token)
    words = [[prepared.state["target_vocab"][t] for t in out] for out in outputs]
    if subword:
        translations = SentencePiece(from_state(prepared.state["target_sentencepiece"])).decode(outputs)
    else:
        translations = [t.decode("utf-8") for t in
                        detokenize(tf.ragged.constant(words, dtype=tf.string, ragged_rank=1)).numpy()]
    return {"tokens": np.array([" ".join(w) for w in words], dtype=str),
            "translation": np.array(translations, dtype=str)}


def write_translations(path, pairs, hyps) -> None:
    """``source<TAB>reference<TAB>translation`` per pair under a header; tabs and newlines become spaces."""
    def clean(text):
        return text.replace("\t", " ").replace("\n", " ")

    with atomic_path(path) as tmp:
        tmp.write_text("source\treference\ttranslation\n" + "".join(
            f"{clean(s)}\t{clean(r)}\t{clean(h)}\n" for s, r, h in zip(pairs.sources, pairs.targets, hyps)),
            encoding="utf-8")


def attention_plots(translator, prepared: TranslationPrepared, split, hyp_tokens, run, n) -> None:
    """Heatmaps of where the decoder looked while emitting the first ``n`` translations."""
    src_tokens = prepared.source_tokens[split]
    src_ids = prepared.source_ids[split]
    tgt_index = {w: i for i, w in enumerate(prepared.state["target_vocab"])}
    for i in range(min(n, len(src_ids))):
        out_ids = [tgt_index.get(t, UNK_ID) for t in hyp_tokens[i]]
        weights = translator.inference.attention_map(src_ids[i], out_ids)
        if translator.subword:  # the pieces the encoder read
            source = [prepared.state["source_vocab"][t] for t in src_ids[i][:-1]] + [END]
        else:
            source = src_tokens[i][: len(src_ids[i]) - 1] + [END]
        save_attention_heatmap(np.array(weights), source, hyp_tokens[i] + [END],
                               run.plots_dir / f"attention_{split}_{i}.png",
                               title=f"Attention ({split} #{i})")


def copy_source_baseline(config, prepared: TranslationPrepared, split: str) -> dict:
    """Copying the source sentence: what names, numbers and shared words alone score."""
    pairs = prepared.pairs[split]
    sacre = sacrebleu_scores(pairs.sources, pairs.targets, lowercase=config.data.lowercase)
    return {"bleu": sacre["bleu"], "chrf": sacre["chrf"],
            "bleu_tokenized": tokenized_bleu(prepared.source_tokens[split], prepared.target_tokens[split])}
