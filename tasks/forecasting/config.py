"""The forecasting task's ``data`` and ``model`` config sections."""
from __future__ import annotations

from dataclasses import dataclass

from common.config import BaseDataConfig, option, section, shown
from common.data.checks import ignored_options
from common.errors import ConfigError
from common.layers.recurrent import RNNConfig
from tasks.forecasting.calendar import CALENDAR_FEATURES


@dataclass
class ForecastingDataConfig(BaseDataConfig):
    time_column: str = option("date", "Column with the timestamps.")
    target_columns: list[str] = option([], "Columns to forecast (empty: every column except the time "
                                       "column and the covariates).")
    covariate_columns: list[str] = option([], "Extra input columns that are not forecast, known up to the "
                                          "forecast start only (past covariates).")
    future_covariate_columns: list[str] = option([], "Input columns also known for the forecast's horizon "
                                                 "(holidays, planned prices): the model sees their values at "
                                                 "every horizon step; predict and the export take them.")
    calendar_features: list[str] = option([], "Calendar values of each horizon step's timestamp fed to the "
                                          "model (scaled to [-0.5, 0.5] as in Time-Series-Library).",
                                          choices=list(CALENDAR_FEATURES))
    split: str = option("ratio", "How data.path is split chronologically.", choices=["ratio", "rows", "dates"])
    split_ratios: list[float] = option([0.7, 0.1, 0.2], "Train/val/test fractions (split: ratio).",
                                       min=0.0, max=1.0)
    split_rows: list[int] = option([], "Train/val/test row counts from the start (split: rows).", min=1)
    split_dates: list[str] = option([], "First timestamp of val and of test (split: dates).")
    lookback: int = option(96, "Input window length (time steps).", min=1)
    horizon: int = option(24, "Forecast length (time steps).", min=1)
    stride: int = option(1, "Step between training windows (val/test always use every window).", min=1)
    seasonal_period: int = option(24, "Season length for the seasonal-naive baseline and MASE.", min=1)
    fill: str = option("error", "Gaps and NaN: stop with an error, forward-fill, or interpolate in time.",
                       choices=["error", "ffill", "interpolate"])
    frequency: str | None = option(None, "Expected time step as a pandas offset (e.g. 1h, 15min); "
                                   "null: the most common step in the file.")
    sort: bool = option(False, "Sort rows by time instead of stopping on unsorted timestamps.")
    encoding: str = option("utf-8", "Text encoding of the CSV files.")

    def validate(self):
        super().validate()
        # The shared rule lets data.val/data.test replace carved splits; a series is cut in time by
        # data.split instead, so such files would be silently ignored.
        if self.path is not None and (self.val is not None or self.test is not None):
            raise ConfigError("config data: forecasting splits data.path in time (data.split), so it takes no "
                              "data.val/data.test; drop them, or give data.train, data.val and data.test "
                              "instead of data.path")
        if self.split == "ratio" and (len(self.split_ratios) != 3 or sum(self.split_ratios) > 1 + 1e-9):
            raise ConfigError("config key 'data.split_ratios': give three fractions (train, val, test) "
                              f"that sum to at most 1, got {shown(self.split_ratios)}")
        if self.split == "rows" and len(self.split_rows) != 3:
            raise ConfigError("config key 'data.split_rows': give three row counts (train, val, test), "
                              f"got {shown(self.split_rows)}")
        if self.split == "dates" and len(self.split_dates) != 2:
            raise ConfigError("config key 'data.split_dates': give two dates (val start, test start), "
                              f"got {shown(self.split_dates)}")
        if self.split == "dates":
            self._check_dates()
        if self.frequency is not None:
            import pandas as pd

            try:
                pd.tseries.frequencies.to_offset(self.frequency)
            except ValueError:
                raise ConfigError(f"config key 'data.frequency': {shown(self.frequency)} is not a pandas "
                                  "offset; use e.g. 1h, 15min, 1D or null to infer the step") from None
        for other in ("covariate_columns", "future_covariate_columns"):
            overlap = set(self.target_columns) & set(getattr(self, other))
            if overlap:
                raise ConfigError(f"config keys 'data.target_columns' and 'data.{other}' share "
                                  f"{shown(sorted(overlap))}; a column is either forecast or a covariate")
        overlap = set(self.covariate_columns) & set(self.future_covariate_columns)
        if overlap:
            raise ConfigError(f"config keys 'data.covariate_columns' and 'data.future_covariate_columns' share "
                              f"{shown(sorted(overlap))}; list a column known in advance only in the second")
        self._check_column_roles()
        self._check_split_options()
        if len(set(self.calendar_features)) != len(self.calendar_features):
            raise ConfigError(f"config key 'data.calendar_features': {shown(self.calendar_features)} "
                              "repeats a feature; list each once")

    def _check_column_roles(self):
        """The time column is the index, not a value to forecast or feed; a column listed twice would be
        forecast (or fed) twice, weighting the loss towards it without anyone asking."""
        for key in ("target_columns", "covariate_columns", "future_covariate_columns"):
            names = getattr(self, key)
            if self.time_column in names:
                raise ConfigError(f"config key 'data.{key}': {shown(self.time_column)} is data.time_column "
                                  "(the timestamps); list value columns only")
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise ConfigError(f"config key 'data.{key}': {shown(twice)} listed more than once; list "
                                  "each column once")

    def _check_split_options(self):
        """Any split method or its fractions, rows or dates when the three files are given, or the rows or
        dates of a split method other than data.split, would silently do nothing. Ratios left in the config
        beside another method are accepted: split_ratios has a default, so a config switched to rows or
        dates by ``--set data.split=...`` would otherwise have to remove them too."""
        if self.path is None:
            ignored_options(self, ["split", "split_rows", "split_dates", "split_ratios"],
                            "data.train, data.val and data.test are separate files (nothing is split)")
            return
        unused = {"rows": "split_rows", "dates": "split_dates"}
        ignored_options(self, [key for split, key in unused.items() if split != self.split],
                        f"data.split is {self.split}")

    def _check_dates(self):
        import pandas as pd

        stamps = []
        for text in self.split_dates:
            try:
                stamp = pd.Timestamp(text)
            except ValueError:
                stamp = pd.NaT
            if pd.isna(stamp):
                raise ConfigError(f"config key 'data.split_dates': cannot read {shown(text)} as a date; give "
                                  "dates like 2024-03-01 or 2024-03-01 12:00")
            stamps.append(stamp)
        if stamps[0] >= stamps[1]:
            raise ConfigError(f"config key 'data.split_dates': the val start {self.split_dates[0]} must come "
                              f"before the test start {self.split_dates[1]}")


@dataclass
class ForecastingModelConfig:
    kind: str = option("direct", "direct: one dense head emits every horizon step; seq2seq: an "
                       "autoregressive decoder trained with teacher forcing.", choices=["direct", "seq2seq"])
    rnn: RNNConfig = section(RNNConfig, "Recurrent encoder.")
    channel_independent: bool = option(True, "Forecast every variable as its own series with one shared "
                                       "network (PatchTST/SegRNN style).")
    patch_len: int = option(1, "Feed the RNN segments of this many steps (SegRNN); must divide lookback.",
                            min=1)
    d_model: int = option(0, "Width of the segment embedding (0: feed raw segments).", min=0)
    instance_norm: bool = option(True, "Reversible instance normalization (RevIN) of every window.")
    head_dropout: float = option(0.0, "Dropout before the output head.", min=0.0, max=0.95)
    channel_embedding: int = option(0, "Width of a learned per-variable vector given to the output head "
                                    "beside the encoder state (SegRNN's channel identity; channel_independent "
                                    "and kind direct only; 0: none).", min=0)
    linear_skip: bool = option(False, "Add a linear map lookback -> horizon of every (normalized) channel "
                               "to the recurrent forecast (LSTNet's autoregressive highway): the network "
                               "then learns what a linear model misses.")
    loss: str = option("mse", "Training loss on the standardized scale (SegRNN trains with mae); "
                       "ignored with model.quantiles (the pinball loss).", choices=["mse", "mae", "huber"])
    quantiles: list[float] | None = option(None, "Forecast these quantile levels (sorted, in (0, 1), e.g. "
                                           "[0.1, 0.5, 0.9]) with the pinball loss; the level nearest 0.5 is "
                                           "the point forecast. null or []: a point forecast.")
    # Default conformal: pinball-trained levels usually cover less on new windows than they promise, and
    # the fix costs one prediction pass over the validation split, which every run already has.
    calibration: str = option("conformal", "After training, shift every quantile level but the point level "
                              "by a split-conformal quantile of its validation residuals, per horizon step "
                              "and target (CQR, Romano et al. 2019), so the interval between two levels "
                              "covers at least their difference on new data; the export and predict return "
                              "the shifted levels, the report both. none: the network's levels as trained. "
                              "Ignored without model.quantiles.", choices=["none", "conformal"])

    def validate(self):
        if self.channel_embedding and not (self.channel_independent and self.kind == "direct"):
            raise ConfigError("config key 'model.channel_embedding': needs model.channel_independent: true and "
                              "model.kind: direct; set it to 0 otherwise")
        q = self.quantiles or []
        if any(not 0 < v < 1 for v in q) or any(b <= a for a, b in zip(q, q[1:])):
            raise ConfigError(f"config key 'model.quantiles': give distinct levels strictly between 0 and 1 in "
                              f"increasing order, e.g. [0.1, 0.5, 0.9]; got {shown(q)}")

