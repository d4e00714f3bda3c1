"""The page `serve` answers on GET /: try the served model by hand, in a browser, before writing a client.

One self-contained HTML document (index.html with page.css and page.js inlined): the machines that run
`serve` often have no internet, so nothing is fetched but the model's own REST endpoints, the same
``POST /v1/models/<name>:predict`` a client calls (a bad input gets the server's one-line error, shown in
the page). It is rendered once, when `serve` starts, from the run's config and state (label names,
forecasting columns, generation defaults) and held in memory: the page adds no route that reads a file.

Its ``Content-Security-Policy`` allows exactly the inlined script and style (by their SHA-256) and
connections to the server itself, so neither a model output shown in it nor anything injected into it
can load or run anything else.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

_FOLDER = Path(__file__).parent


@dataclass(frozen=True)
class Page:
    html: bytes
    headers: tuple[tuple[str, str], ...]  # of the reply, Content-Security-Policy included


def _sentiment(config, state, max_tokens):
    return {"labels": list(state["labels"])}


def _ner(config, state, max_tokens):
    return {}


def _translation(config, state, max_tokens):
    return {"beam_width": config.model.beam_width}


def _language_model(config, state, max_tokens):
    g = config.model.generation
    return {"granularity": config.data.granularity, "beam_width": g.beam_width, "max_tokens_cap": max_tokens,
            "generation": {"max_tokens": min(g.max_tokens, max_tokens), "temperature": g.temperature,
                           "top_k": g.top_k, "top_p": g.top_p, "seed": g.seed}}


def _forecasting(config, state, max_tokens):
    d = config.data
    return {"time_column": d.time_column, "features": list(state["features"]),
            "targets": list(state["targets"]), "future_covariates": list(state.get("future_covariates", [])),
            "calendar": list(state.get("calendar", [])), "lookback": d.lookback, "horizon": d.horizon,
            "quantiles": list(config.model.quantiles or [])}


# What each task's view needs beyond the REST endpoints: task name -> fn(config, state, server's token cap).
VIEWS = {"sentiment": _sentiment, "ner": _ner, "translation": _translation, "language_model": _language_model,
         "forecasting": _forecasting}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def render(task, model_name: str, config, state: dict, max_tokens: int = 512) -> Page:
    """The page for ``task``'s run (its saved config and state), served as model ``model_name``."""
    script = (_FOLDER / "page.js").read_text(encoding="utf-8")
    style = (_FOLDER / "page.css").read_text(encoding="utf-8")
    values = {"task": task.name, **VIEWS[task.name](config, state, max_tokens), "model": model_name}
    # inside <script type="application/json">: no "</script>" (nor "<!--") can end it early
    data = json.dumps(values).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = f"Try the {task.name.replace('_', ' ')} model"
    if model_name != task.name:
        title += f" '{model_name}'"
    document = Template((_FOLDER / "index.html").read_text(encoding="utf-8")).substitute(
        title=html.escape(title), description=html.escape(task.description or ""),
        model=html.escape(model_name), settings=data, style=style, script=script)
    policy = (f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; connect-src "
              "'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    headers = (("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", policy),
               ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
               ("Cache-Control", "no-store"))
    return Page(document.encode("utf-8"), headers)
