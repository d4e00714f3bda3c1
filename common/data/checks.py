"""Checks that stop (or flag) runs that would train without error but on the wrong thing (issue #34).

A run that reads the label from the text column, maps most tokens to the unknown
token or takes every example in one batch finishes with plausible-looking
numbers; these checks turn such setups into one ``error:`` line (or one
``warning:`` line where the run is still meaningful) before anything is written.
"""
from __future__ import annotations

import dataclasses

from common.errors import ConfigError, DataError, warn

UNKNOWN_SHARE_LIMIT = 0.5  # more unknown training tokens than this: the model learns mostly one token
UNKNOWN_SHARE_NOTE = 0.2  # evaluated tokens: above this share, perplexity/accuracy mostly scores <unk>


def ignored_options(section, names, reason: str, prefix: str = "data") -> None:
    """Refuse options ``names`` of a config ``section`` that were changed from their defaults although
    ``reason`` (e.g. "format label_files has no columns") means nothing reads them: a user who sets
    them expects an effect they will not get."""
    fields = {f.name: f for f in dataclasses.fields(section)}
    for name in names:
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        value = getattr(section, name)
        if value != default:
            shown = repr(value) if len(repr(value)) <= 200 else repr(value)[:200] + "..."
            raise ConfigError(f"config key '{prefix}.{name}': {shown} is ignored because {reason}; remove "
                              f"it (or change the setting that makes it unused)")


def unknown_share(n_unknown: int, n_tokens: int) -> float:
    return n_unknown / n_tokens if n_tokens else 0.0


def check_training_unknowns(share: float, where: str, knobs: str) -> None:
    """Refuse a vocabulary that maps more than half of the training tokens to the unknown token."""
    if share > UNKNOWN_SHARE_LIMIT:
        raise DataError(f"{where}: {share:.0%} of the training tokens fall outside the vocabulary and become "
                        f"the unknown token, so the model would learn almost nothing; relax {knobs}")


def note_evaluated_unknowns(info: dict, split: str, share: float, what: str) -> None:
    """Say loudly (a warning and a report entry) that a split's scores are mostly over unknown tokens."""
    if share > UNKNOWN_SHARE_NOTE:
        message = (f"{share:.0%} of the {split} tokens are unknown to the vocabulary; its {what} is largely "
                   "scored on the unknown token and is not comparable with other runs")
        warn(message)
        info[f"{split} unknown tokens"] = message


def check_batch_size(batch_size: int, n_examples: int, unit: str, where: str) -> None:
    """A batch larger than the training split: every epoch is one update step (warn, it still trains)."""
    if batch_size > n_examples:
        warn(f"{where}: train.batch_size {batch_size} is larger than the {n_examples} training {unit}, so "
             "every epoch is a single update step; lower train.batch_size")
