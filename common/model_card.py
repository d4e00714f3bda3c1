"""model_card.md, written into every export: what the model is, how well it does, how to call it."""
from __future__ import annotations

import json

import numpy as np
import yaml

from common.config import to_dict
from common.io import atomic_write_text, read_json
from common.report import metrics_table


def _example_request(example: dict) -> str:
    """A TensorFlow Serving row-format request for the first instance of the example batch."""
    first = {k: (v[:1].astype(str) if np.asarray(v).dtype.kind in "SUO" else v[:1]).tolist()
             for k, v in example.items()}
    instances = [first[k][0] for k in first] if len(first) == 1 else [{k: v[0] for k, v in first.items()}]
    text = json.dumps({"instances": instances})
    return text if len(text) < 1500 else text[:1500] + " ... (truncated)"


def write_model_card(folder, run, task, config, prepared, signatures, example: dict | None) -> None:
    lines = [f"# Model card: {task.name} / {config.name}", "", task.description or "", "",
             "## Data", ""]
    lines += [f"- **{k}**: {v}" for k, v in prepared.info.items()]
    if run.metrics_path.exists():
        doc = read_json(run.metrics_path)
        if "test" in doc:
            lines += ["", "## Metrics (test split)", "",
                      metrics_table(doc["test"], doc.get("baselines", {}), task.headline_metrics(), markdown=True)]
    lines += ["", "## Signatures", ""]
    for name, signature in signatures.items():
        inputs = ", ".join(f"`{s.name}` {s.dtype.name}{[('batch' if d is None else d) for d in s.shape.as_list()]}"
                           for s in signature.input_signature)
        lines.append(f"- `{name}`: {inputs}")
    if example is not None:
        lines += ["", "Example request (TensorFlow Serving REST, or `python -m tasks."
                  f"{task.name} serve --run-dir {run.path}`):", "", "```bash",
                  f"curl -s -X POST localhost:8501/v1/models/{task.name}:predict -d '{_example_request(example)}'",
                  "```"]
    lines += ["", "## Limitations", "",
              "- Trained on the data above only; inputs far from it (other domains, vocabularies, scales) "
              "get unreliable outputs.",
              "- Metrics are from one seed on one split; expect run-to-run variation.",
              "", "## Config", "", "```yaml", yaml.safe_dump(to_dict(config), sort_keys=False).rstrip(), "```", ""]
    atomic_write_text(folder / "model_card.md", "\n".join(lines))
