"""Pretrain once, fine-tune everywhere: encoders initialised from language-model runs (ULMFiT, ELMo/TagLM).

A task with an embedding layer and a `RecurrentBlock` (sentiment, ner) takes both from
`tasks.language_model` runs: ``model.pretrained_encoder`` names a forward LM run (or a folder
holding ``forward/`` and ``backward/`` runs, as the recipe writes), ``model.pretrained_encoder_backward``
a backward one for the backward half of a bidirectional encoder. ``model.pretraining.enabled`` trains
those runs first, on the task's training texts plus ``model.pretraining.extra_text`` (plain text, or the
``text_column`` of CSV / TSV / JSON Lines files; never its val or test split: `common.data.leakage`
refuses extra text that holds them), into the run folder's ``pretrained_lm/`` (the task's
``with_run_folder`` hook calls `recipe.with_pretraining_folder`).

One idea a module; callers import from the module:

- `config`: the model-config keys (`PretrainedEncoderOptions`, its ``pretraining`` section).
- `runs`: reading finished language-model runs (`read_language_model`, `language_model_runs`).
- `encoder`: vocabulary mapping by string and shape checks into a `PretrainedEncoder` (`load_encoder`).
- `transfer`: the weights into the task's layers (`assign_encoder`, ``pretrained_as: init``) or the frozen
  language models beside them (`language_model_features`, ``pretrained_as: features``).
- `schedule`: `FineTuneSchedule` (frozen or gradual unfreezing, discriminative learning rates, warm-up).
- `corpus`: the text the language models read (`read_unlabelled`, `pretraining_text`, the leakage check).
- `recipe`: `pretrain` and `train_language_models` (through `common.lifecycle`, which does not know this
  package), `with_encoder` (a task's ``prepare``), `with_pretraining_folder`.
"""
from common.pretrained.encoder import PretrainedEncoder

__all__ = ["PretrainedEncoder"]  # the type of a task's Prepared.encoder field
