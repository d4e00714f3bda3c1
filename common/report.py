"""Human-readable output: the CLI's summary table and the run folder's report.md."""
from __future__ import annotations

import math
from pathlib import Path

import yaml

from common.config import to_dict
from common.io import atomic_write_text


def fmt(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def scalar_metrics(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def ordered_names(metrics: dict, headline: list[str]) -> list[str]:
    names = [n for n in headline if n in metrics]
    return names + [n for n in metrics if n not in names]


def metrics_table(metrics: dict, baselines: dict, headline: list[str], markdown=False) -> str:
    """Rows are metrics; columns are the model and each baseline."""
    model = scalar_metrics(metrics)
    names = ordered_names(model, headline)
    columns = ["metric", "model"] + list(baselines)
    rows = [[name, fmt(model[name])] + [fmt(b.get(name, "")) if name in b else "" for b in baselines.values()]
            for name in names]
    return table(columns, rows, markdown)


def table(columns, rows, markdown=False) -> str:
    rows = [[str(c) for c in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)), *(len(r[i]) for r in rows)) if rows else len(str(c))
              for i, c in enumerate(columns)]
    line = "  ".join(str(c).ljust(w) for c, w in zip(columns, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def write_report(run, task, config, prepared_info: dict, metrics_doc: dict) -> None:
    """report.md: data, config, metrics with baselines, plots."""
    lines = [f"# {task.name} run `{config.name}`", ""]
    if task.description:
        lines += [task.description, ""]
    lines += ["## Data", ""]
    lines += [f"- **{k}**: {v}" for k, v in prepared_info.items()] or ["- (no details)"]
    for split in ("test", "val"):
        if split in metrics_doc:
            lines += ["", f"## Metrics ({split} split)", "",
                      metrics_table(metrics_doc[split], metrics_doc.get("baselines", {}) if split == "test" else {},
                                    task.headline_metrics(), markdown=True)]
            for name, text in metrics_doc[split].items():  # e.g. a generated sample: shown as text
                if isinstance(text, str):
                    lines += ["", f"**{name}**:", "", "```text", text, "```"]
    if "training" in metrics_doc:
        lines += ["", "## Training", ""] + [f"- **{k}**: {fmt(v)}" for k, v in metrics_doc["training"].items()]
    plots = sorted(Path(run.plots_dir).glob("*.png")) if Path(run.plots_dir).exists() else []
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{p.stem}](plots/{p.name})" for p in plots]
    lines += ["", "## Config", "", "```yaml", yaml.safe_dump(to_dict(config), sort_keys=False).rstrip(), "```", ""]
    atomic_write_text(run.report_path, "\n".join(lines))
