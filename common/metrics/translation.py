"""Translation metrics: sacreBLEU BLEU/chrF, paper-style tokenized BLEU, ROUGE, perplexity.

Which BLEU is which matters when comparing with published numbers:

- ``bleu`` / ``chrf``: sacreBLEU on detokenized text with its own standard
  ``13a`` tokenizer (Post, 2018), the comparable modern figure. The signature
  string records every option (e.g. ``case:lc`` when scored case-insensitively).
- ``bleu_tokenized``: BLEU on the tokens the model itself reads (lower-cased,
  punctuation split), as in older papers and tutorials that score tokenized,
  lower-cased text (e.g. bentrevett/pytorch-seq2seq's ``bleu_score`` on spaCy
  tokens). Usually a little higher than sacreBLEU.

All scores are on a 0-100 scale. ROUGE comes from Google's ``rouge-score``
package, fed our own tokens through a whitespace tokenizer because its default
tokenizer drops every non-ASCII letter (``für`` -> ``f r``).
"""
from __future__ import annotations

import math

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer


def sacrebleu_scores(hypotheses: list[str], references: list[str], lowercase: bool = False) -> dict:
    """Corpus BLEU and chrF of detokenized hypotheses against one reference each.

    Returns ``{"bleu", "chrf", "bleu_signature", "chrf_signature"}``.
    """
    _check_pairs(hypotheses, references)
    bleu = sacrebleu.metrics.BLEU(lowercase=lowercase)
    chrf = sacrebleu.metrics.CHRF(lowercase=lowercase)
    return {"bleu": bleu.corpus_score(hypotheses, [references]).score,
            "chrf": chrf.corpus_score(hypotheses, [references]).score,
            "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}


def tokenized_bleu(hypotheses: list[list[str]], references: list[list[str]]) -> float:
    """Corpus BLEU-4 on already tokenized, lower-cased text (no further tokenization)."""
    _check_pairs(hypotheses, references)
    join = lambda sentences: [" ".join(tokens).lower() for tokens in sentences]  # noqa: E731
    metric = sacrebleu.metrics.BLEU(tokenize="none", force=True)
    return metric.corpus_score(join(hypotheses), [join(references)]).score


class _WhitespaceTokenizer:
    """rouge-score tokenizer interface: the text is already tokenized."""

    @staticmethod
    def tokenize(text):
        return text.split()


def rouge_scores(hypotheses: list[list[str]], references: list[list[str]]) -> dict:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1 (x100) over sentences, on tokenized text."""
    _check_pairs(hypotheses, references)
    kinds = ["rouge1", "rouge2", "rougeL"]
    scorer = rouge_scorer.RougeScorer(kinds, tokenizer=_WhitespaceTokenizer())
    totals = dict.fromkeys(kinds, 0.0)
    for hyp, ref in zip(hypotheses, references):
        scores = scorer.score(" ".join(ref), " ".join(hyp))
        for kind in kinds:
            totals[kind] += scores[kind].fmeasure
    n = max(len(hypotheses), 1)
    return {kind: 100.0 * total / n for kind, total in totals.items()}


def masked_token_nll(targets, logits, pad_id: int = 0) -> tuple[float, int]:
    """Summed negative log-likelihood of the non-padding ``targets`` ``[batch, T]`` under
    ``logits`` ``[batch, T, vocab]``, and the number of tokens it sums over."""
    targets = np.asarray(targets)
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    mask = targets != pad_id
    return float(-(picked * mask).sum()), int(mask.sum())


def perplexity(nll_sum: float, count: int) -> float:
    """``exp`` of the mean token negative log-likelihood (teacher forced, no label smoothing)."""
    if count <= 0:
        raise ValueError("perplexity needs at least one target token")
    return math.exp(nll_sum / count)


def _check_pairs(hypotheses, references):
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references; "
                         "every hypothesis needs exactly one reference")
