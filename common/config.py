"""Typed, validated configuration shared by every task.

A config is a tree of dataclasses. YAML is checked against it at load time: an
unknown or misspelled key, a wrong type or an out-of-range value stops the run
before any work, with one message that names the key and what is allowed.
Each task supplies its own ``data`` and ``model`` sections; ``train`` and
``tuner`` (and ``seed``, ``name``) are the same for every task.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from common.errors import ConfigError, where

RUN_NAME = r"[A-Za-z0-9_][A-Za-z0-9._-]*"  # a plain file name: `name` becomes a folder under runs/<task>/
MAX_NAME = 100  # `name` is a folder name: file systems stop at 255 bytes, and run folders nest below it

# Limits of what a config may hold. A config is a few kilobytes; these stop a hostile or broken one (a
# 20 MB line, a "billion laughs" of nested aliases, 100000 nested brackets) with one line, before PyYAML
# (pure Python, ~50 microseconds a token) or the run spends minutes or all memory on it.
MAX_CONFIG_BYTES = 1_000_000  # a config file, or one --set item
MAX_VALUES = 20_000  # values in one document, every alias counted as often as it is used
MAX_ALIAS_VALUES = 5_000  # of those, values that aliases repeat
MAX_DEPTH = 50  # nesting of mappings and lists (PyYAML composes recursively)
MAX_SHOWN = 200  # characters of a bad value an error message quotes

# Integers reach TensorFlow as int32 (sampling seeds, top_k) and numpy seeds stop at 2**32 - 1.
MAX_INT = 2**31 - 1
# Keys that choose sizes, by their last dotted part(s), wherever a task puts them: a value past these
# would exhaust the machine (weights grow with width squared, batches and windows with their length)
# or run for ever, long after the config was accepted. An option's own ``max`` takes precedence.
WIDTH, LENGTH, VOCABULARY = 8192, 100_000, 10_000_000
SIZE_LIMITS = {
    **dict.fromkeys(["units", "decoder_units", "attention_units", "hidden_units", "char_units", "d_model",
                     "embedding_dim", "char_dim", "casing_dim", "channel_embedding"], WIDTH),
    **dict.fromkeys(["max_length", "bptt", "lookback", "horizon", "max_output_length", "max_word_chars",
                     "patch_len", "generation.max_tokens", "stride", "seasonal_period"], LENGTH),
    **dict.fromkeys(["max_tokens", "max_vocabulary", "source_vocab_size", "target_vocab_size",
                     "sampled_softmax", "ngram_max_tokens", "top_k"], VOCABULARY),
    "layers": 64, "batch_size": 65_536, "epochs": 100_000, "in_domain_epochs": 100_000, "beam_width": 256,
    "cpu_replicas": 256, "max_trials": 100_000, "executions_per_trial": 1_000,
    "attention_plots": 1_000,  # one heatmap file each: more is hours of plotting, not a closer look
}


class _ShortRepr(reprlib.Repr):
    """``repr`` that cuts long strings, lists and mappings while it formats them (not after), and names
    an integer too long for ``str`` (Python refuses past 4300 digits) by its size."""

    def repr_int(self, x, level):
        if x.bit_length() < 200:
            return repr(x)
        return f"<an integer of about {int(x.bit_length() * 0.30103)} digits>"


_SHORT = _ShortRepr()
_SHORT.maxstring = _SHORT.maxother = MAX_SHOWN
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 20
_SHORT.maxlevel = 4


def shown(value) -> str:
    """``repr(value)`` for an error message, at most ``MAX_SHOWN`` characters: a 1 MB bad value must not
    become a 1 MB error line. A cut is marked with an ellipsis (``...``)."""
    return _cut(_SHORT.repr(value))


def shown_message(text) -> str:
    """Another error's message inside one of ours: on one line and at most ``MAX_SHOWN`` characters, like
    a value, but not quoted (``shown`` would escape its quotes and backslashes a second time)."""
    return _cut(" ".join(str(text).split()))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def option(default, help, *, choices=None, min=None, max=None, positive=False, pattern=None):
    """A config field with its help text and validation rules (``pattern``: a regex the whole string matches)."""
    meta = {"help": help, "choices": choices, "min": min, "max": max, "positive": positive, "pattern": pattern}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: copy.deepcopy(d), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls, help=""):
    """A nested config section."""
    return field(default_factory=cls, metadata={"help": help})


@dataclass
class BaseDataConfig:
    """Data keys every task understands: one file to split, or three files."""

    path: str | list[str] | None = option(None, "One data file that the task splits into train/val/test "
                                          "(absolute, relative to the working directory, or to "
                                          "$RNNSUITE_DATA); every data path may also be a glob "
                                          "(shards/part-*.csv.gz, read in sorted order) or a list of paths "
                                          "and globs (read in the list's order); .gz files are decompressed.")
    train: str | list[str] | None = option(None, "Training file(s) (use with val and test instead of path).")
    val: str | list[str] | None = option(None, "Validation file(s).")
    test: str | list[str] | None = option(None, "Test file(s).")

    def validate(self):
        """``path`` alone (the task carves every split), ``path`` with ``val``/``test`` (those splits
        come from their files, the rest is carved), or all of ``train``/``val``/``test``.
        Subclasses extend this (and call ``super().validate()``)."""
        if self.path is not None and self.train is not None:
            raise ConfigError("config data: set data.path (one file the task splits) or data.train, not both")
        files = {"train": self.train, "val": self.val, "test": self.test}
        if self.path is None and not all(files.values()):
            missing = [k for k, v in files.items() if not v]
            if len(missing) < 3:
                raise ConfigError(f"config data: set data.{', data.'.join(missing)} too, or use data.path")
            raise ConfigError("config data: set data.path (one file to split) or data.train, data.val "
                              "and data.test")


@dataclass
class TrainConfig:
    epochs: int = option(20, "Maximum number of epochs.", min=1)
    batch_size: int = option(64, "Mini-batch size.", min=1)
    optimizer: str = option("adam", "Optimizer.", choices=["adam", "adamw", "rmsprop", "sgd"])
    learning_rate: float = option(1e-3, "Initial learning rate.", positive=True)
    weight_decay: float = option(0.0, "Decoupled weight decay (adamw) .", min=0.0)
    clipnorm: float | None = option(1.0, "Clip each gradient to this global norm (null: no clipping).",
                                    positive=True)
    lr_schedule: str = option("none", "Learning-rate schedule.",
                              choices=["none", "cosine", "exponential", "reduce_on_plateau"])
    lr_decay_rate: float = option(0.5, "Decay factor for exponential / reduce_on_plateau.",
                                  positive=True, max=1.0)
    monitor: str | None = option(None, "Validation metric for early stopping and best checkpoint "
                                 "(null: the task's default).")
    monitor_mode: str = option("auto", "Whether the monitored metric should go down or up.",
                               choices=["auto", "min", "max"])
    early_stopping_patience: int = option(5, "Epochs without improvement before stopping (0: never).",
                                          min=0)
    distribution: str = option("default", "tf.distribute strategy: default (one device), mirrored (one "
                               "replica per GPU or logical CPU), multi_worker (cluster from TF_CONFIG).",
                               choices=["default", "mirrored", "multi_worker"])
    cpu_replicas: int = option(1, "Split the CPU into this many logical devices (for mirrored on CPU).", min=1)
    deterministic: bool = option(True, "Deterministic ops: same seed and config give the same metrics.")
    precision: str = option("float32", "Compute precision: float32, mixed_bfloat16 (float32 weights, "
                            "bfloat16 compute: faster on CPUs with AVX512-BF16/AMX; outputs and losses stay "
                            "float32), or auto (mixed_bfloat16 where the CPU has bf16, else float32).",
                            choices=["float32", "mixed_bfloat16", "auto"])
    tensorboard: bool = option(True, "Write TensorBoard logs to <run>/logs.")
    verbose: str = option("auto", "Keras progress output: auto (bar on a terminal), bar, epoch, none.",
                          choices=["auto", "bar", "epoch", "none"])


@dataclass
class TunerConfig:
    algorithm: str = option("random", "KerasTuner search algorithm.",
                            choices=["random", "bayesian", "hyperband"])
    max_trials: int = option(10, "Number of trials (hyperband: bounds max_epochs instead).", min=1)
    objective: str | None = option(None, "Metric to optimise (null: train.monitor).")
    direction: str = option("auto", "Optimise the objective towards min or max.",
                            choices=["auto", "min", "max"])
    epochs: int | None = option(None, "Epochs per trial (null: train.epochs).", min=1)
    executions_per_trial: int = option(1, "Models trained per trial (averaged).", min=1)
    keep_best_trials: int = option(3, "Keep checkpoints of the best N trials only.", min=1)
    search_space: dict = option({}, "Map of dotted config key to {values: [...]} or "
                                "{min, max, step|sampling}.")


EXPORT_FORMATS = ("savedmodel", "onnx", "litert")


@dataclass
class ExportConfig:
    formats: list[str] = option(["savedmodel"], "What `train` and `export` write into <run>/export: the "
                                "SavedModel (always; serve and predict use it), and beside it onnx "
                                "(export/onnx: the numeric core as ONNX) and litert (export/litert: a "
                                "fixed-shape TFLite flatbuffer), each with a preprocessing.json for the "
                                "host.",
                                choices=list(EXPORT_FORMATS))

    def validate(self):
        if "savedmodel" not in self.formats:
            raise ConfigError(f"config key 'export.formats': {shown(self.formats)} lacks savedmodel; the "
                              "SavedModel is always written (serve and predict use it): list it first, e.g. "
                              "[savedmodel, onnx]")
        twice = sorted({f for f in self.formats if self.formats.count(f) > 1})
        if twice:
            raise ConfigError(f"config key 'export.formats': {shown(twice)} listed more than once; list each "
                              "format once")


def check_export_formats(config, available: dict, what: str) -> None:
    """Refuse, with one line naming what this model can be written as, a format of ``export.formats``
    that ``available`` (format -> None when supported, else the reason) does not offer; ``what`` names
    the task and model in the message."""
    supported = ["savedmodel"] + [f for f in EXPORT_FORMATS[1:] if available.get(f, "") is None]
    for fmt in config.export.formats:
        if fmt == "savedmodel" or available.get(fmt, "") is None:
            continue
        reason = available.get(fmt) or "not implemented for this task"
        raise ConfigError(f"config key 'export.formats': {fmt} is not available for {what} ({reason}); "
                          f"it can be exported as {', '.join(supported)}")


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}" if typing.get_args(tp) else "list"
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, key):
    """Check value against the annotated type, converting only lossless cases (int -> float)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {shown(value)}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, prefix=key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {shown(value)}")
        (item_tp,) = typing.get_args(tp) or (typing.Any,)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {shown(value)}")
        return dict(value)
    if tp is typing.Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML reads "1e-3" as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None:
            if not math.isfinite(number):  # `nan <= 0` is False: range rules alone would let it through
                raise ConfigError(f"config key '{key}': must be a finite number, got {shown(value)}")
            return number
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {shown(value)}")


def _check_rules(value, meta, key):
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v not in choices:
                raise ConfigError(f"config key '{key}': {shown(v)} is not allowed; "
                                  f"choose one of {', '.join(map(str, choices))}")
    pattern = meta.get("pattern")
    if pattern is not None and isinstance(value, str):
        if len(value) > MAX_NAME:
            raise ConfigError(f"config key '{key}': {shown(value)} has {len(value)} characters; a name has "
                              f"at most {MAX_NAME}")
        if not re.fullmatch(pattern, value):
            raise ConfigError(f"config key '{key}': {shown(value)} is not a plain name; use letters, digits, "
                              "'.', '_' and '-' only (no '/' or '..')")
    numbers = value if isinstance(value, list) else [value]
    for v in numbers:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if meta.get("positive") and v <= 0:
            raise ConfigError(f"config key '{key}': must be > 0, got {shown(v)}")
        if meta.get("min") is not None and v < meta["min"]:
            raise ConfigError(f"config key '{key}': must be >= {meta['min']}, got {shown(v)}")
        if meta.get("max") is not None and v > meta["max"]:
            raise ConfigError(f"config key '{key}': must be <= {meta['max']}, got {shown(v)}")
        if isinstance(v, int):
            _check_size(v, meta, key)


def _check_size(value: int, meta, key: str) -> None:
    """The ceilings of ``SIZE_LIMITS`` and ``MAX_INT`` for an integer its option does not bound itself."""
    if meta.get("max") is None:
        parts = key.split(".")
        limit = SIZE_LIMITS.get(".".join(parts[-2:]), SIZE_LIMITS.get(parts[-1].split("[")[0]))
        if limit is not None and value > limit:
            raise ConfigError(f"config key '{key}': must be <= {limit}, got {shown(value)} (a size this "
                              "large would exhaust the machine's memory or time)")
    if abs(value) > MAX_INT:
        raise ConfigError(f"config key '{key}': must be between {-MAX_INT} and {MAX_INT}, got {shown(value)}")


def from_dict(cls, data, prefix=""):
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and bad values."""
    if data is None:
        data = {}
    label = f"config section '{prefix}'" if prefix else "config"
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping of keys, got {shown(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    renamed = getattr(cls, "RENAMED", {})
    for key in data:
        full = f"{prefix}.{key}" if prefix else str(key)
        if key in renamed:
            new = f"{prefix}.{renamed[key]}" if prefix else renamed[key]
            raise ConfigError(f"config key '{full}' was renamed to '{new}'; use {new}")
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1) if len(str(key)) <= MAX_NAME else []
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown config key {shown(full)}{hint} Allowed keys here: "
                              f"{', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            continue
        full = f"{prefix}.{name}" if prefix else name
        value = _coerce(data[name], hints[name], full)
        _check_rules(value, f.metadata, full)
        kwargs[name] = value
    for name in fields:  # a section the YAML leaves out still gets its own checks (after the given keys)
        if name not in data and dataclasses.is_dataclass(hints[name]):
            kwargs[name] = from_dict(hints[name], {}, prefix=f"{prefix}.{name}" if prefix else name)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def migrate_renamed(cls, data):
    """Give renamed keys their new names, for a run folder's own config.yaml written before the rename
    (a user's config gets the "was renamed" error instead, so the user learns the new name)."""
    if not isinstance(data, dict):
        return data
    renamed = getattr(cls, "RENAMED", {})
    out = {renamed.get(key, key): value for key, value in data.items()}
    hints = typing.get_type_hints(cls)
    for name, value in out.items():
        if name in hints and dataclasses.is_dataclass(hints[name]):
            out[name] = migrate_renamed(hints[name], value)
    return out


def to_dict(obj):
    """Plain-data view of a config (for YAML)."""
    return dataclasses.asdict(obj)


def parse_override(text: str) -> tuple[list[str], object]:
    """Parse ``key.path=value`` (value read as YAML) from ``--set``; text that is not valid YAML is taken
    as a plain string, but a value YAML refuses for its size or a repeated key is an error."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"--set {shown(text)}: {len(text)} characters; a --set item has at most "
                          f"{MAX_CONFIG_BYTES}: put large values in files the config names")
    if "=" not in text:
        raise ConfigError(f"--set {shown(text)}: expected key.path=value, e.g. --set train.epochs=3")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {shown(text)}: the key is empty")
    if "" in key.split("."):
        raise ConfigError(f"--set {shown(text)}: the key {shown(key)} has an empty part; write "
                          "key.path=value, e.g. --set train.epochs=3")
    try:
        value = yaml.load(raw, Loader=_OneLineLoader) if raw.strip() else ""  # noqa: S506 - a SafeLoader
    except _Refused as exc:
        raise ConfigError(f"--set {shown(key)}: {exc.problem}") from None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_override(tree: dict, path: list[str], value, label: str = "--set") -> None:
    """Set a dotted path in a raw (not yet validated) config mapping (``label``: where the override came
    from, for the message)."""
    node = tree
    for part in path[:-1]:
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"{label} {'.'.join(path)[:MAX_SHOWN]}: {shown(part)} is not a section")
        node = nxt
    node[path[-1]] = value


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that a config may not hold (a repeated key, too many values, too deep): never read as
    a plain string by ``--set``."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, not "last one wins",
    and a document past the size limits (``MAX_VALUES``, ``MAX_ALIAS_VALUES``, ``MAX_DEPTH``) is refused
    while it is composed: aliases are shared nodes there, so a "billion laughs" is counted, never built."""

    def __init__(self, stream):
        super().__init__(stream)
        self._values = self._aliased = self._depth = 0

    def _where(self, mark) -> str:
        return f"line {mark.line + 1}"

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            size = getattr(node, "expanded", None)
            if size is None:
                raise _Refused(None, None, "an alias refers to the value that contains it; a config cannot "
                                           "be recursive", mark)
            self._aliased += size
            self._values += size
            if self._aliased > MAX_ALIAS_VALUES:
                raise _Refused(None, None, f"aliases expand to more than {MAX_ALIAS_VALUES} values; write "
                                           "the values out (a config needs few)", mark)
            self._check_count(mark)
            return node
        mark = self.peek_event().start_mark
        start = self._values
        self._values += 1
        self._check_count(mark)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(None, None, f"values nested more than {MAX_DEPTH} deep", mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        node.expanded = self._values - start
        return node

    def _check_count(self, mark):
        if self._values > MAX_VALUES:
            raise _Refused(None, None, f"more than {MAX_VALUES} values; a config holds far fewer", mark)

    def construct_yaml_int(self, node):
        digits = len(node.value.lstrip("+-").replace("_", ""))
        if digits > 30:  # int() refuses past 4300 digits, and every config integer fits in 10
            raise _Refused(None, None, f"an integer of {digits} digits; config integers are at most "
                                       f"{MAX_INT}", node.start_mark)
        return super().construct_yaml_int(node)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` merges a mapping; its keys may be overridden here
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys
            if key in seen:
                first = self._where(seen[key])
                raise _Refused(None, None, f"key {shown(key)} appears twice (first at {first}); keep one of "
                                           "them", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)


class _OneLineLoader(_UniqueKeyLoader):
    """The loader of a ``--set`` value: one line, so places are columns."""

    def _where(self, mark) -> str:
        return f"column {mark.column + 1}"


def _yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    """(line, one-line problem) of a PyYAML error."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else shown(exc.character)
        return line, f"character {char} is not allowed in YAML ({exc.reason}); remove it"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context and not isinstance(exc, _Refused):
        problem = f"{context}: {problem}"
    return (mark.line + 1 if mark is not None else None), " ".join(problem.split())


def load_yaml(path) -> dict:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--config {path} is a folder; give the YAML config file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {size} bytes; a config file has at most {MAX_CONFIG_BYTES} (a config is "
                          "a few kilobytes: is this the data file?)")
    text = ""
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                          "save the config as UTF-8") from None
    except yaml.YAMLError as exc:
        line, problem = _yaml_problem(exc, text)
        raise ConfigError(f"{where(path, line)}: invalid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (data, model, train...)")
    return data


def save_yaml(data: dict, path) -> None:
    from common.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def get_path(obj, dotted: str):
    node = obj
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def with_values(config, values: dict):
    """Return a re-validated copy of ``config`` with dotted keys replaced."""
    raw = to_dict(config)
    for dotted, value in values.items():
        apply_override(raw, dotted.split("."), value)
    return from_dict(type(config), raw)


def differences(old, new, prefix="") -> list[str]:
    """The dotted keys whose values differ between two configs of one class, in the config's order (a
    rerun of an unfinished run names what changed since it started)."""
    keys = []
    for f in dataclasses.fields(old):
        key = f"{prefix}.{f.name}" if prefix else f.name
        a, b = getattr(old, f.name), getattr(new, f.name)
        if dataclasses.is_dataclass(a) and type(a) is type(b):
            keys += differences(a, b, key)
        elif a != b:
            keys.append(key)
    return keys


def describe(cls, prefix="") -> list[tuple[str, str, str]]:
    """(key, default, help) for every leaf key, for --help and the docs."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(tp, key))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            help_text += f" One of: {', '.join(map(str, f.metadata['choices']))}."
        rows.append((key, repr(default), help_text))
    return rows


def run_config_class(task_name: str, data_cls, model_cls, default_monitor: str = "val_loss",
                     check=None, export_formats=None):
    """The full config type of a task: its data/model sections plus the shared ones.

    ``check(config)`` runs after every section validated itself, for rules that span
    sections (the task's `check_config`); ``export_formats(config)`` gives the formats beyond the
    SavedModel that this config's model can be written in (format -> None, or why not), checked against
    ``export.formats`` (None: the SavedModel only)."""
    train_cls = TrainConfig
    fields = [
        ("task", str, option(task_name, "Task this config belongs to.", choices=[task_name])),
        ("name", str, option("default", "Run name: the run folder is runs/<task>/<name> (letters, digits, "
                                        "'.', '_' and '-').", pattern=RUN_NAME)),
        ("seed", int, option(42, "Random seed for weights, shuffling and splits.", min=0)),
        ("data", data_cls, section(data_cls, "Where the data is and how to read it.")),
        ("model", model_cls, section(model_cls, "Model architecture.")),
        ("train", train_cls, section(train_cls, "Training loop.")),
        ("tuner", TunerConfig, section(TunerConfig, "Hyperparameter search.")),
        ("export", ExportConfig, section(ExportConfig, "What the export writes.")),
    ]

    def validate(self):
        if check is not None:
            check(self)
        check_export_formats(self, export_formats(self) if export_formats is not None else {},
                             f"the {task_name} task with this config")

    namespace = {"validate": validate}
    cls = dataclasses.make_dataclass(f"{task_name.title().replace('_', '')}Config", fields,
                                     namespace=namespace)
    cls.default_monitor = default_monitor
    return cls
