"""One command-line shape for every task.

    python -m tasks.<task> <command> --config FILE [--set key.path=value ...] [--run-dir DIR]

Commands: train, evaluate, tune, export, predict, serve, config. Problems a user can fix
are printed as one ``error:`` line (exit status 2), never as a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
import textwrap
import time
from pathlib import Path

from common.config import describe
from common.errors import UserError
from common.report import fmt, metrics_table, table


def _config_help(task) -> str:
    rows = describe(task.config_class)
    lines = ["config keys (YAML sections, or --set key.path=value):"]
    for key, default, help_text in rows:
        lines.append(f"  {key} (default {default})")
        lines.extend(textwrap.wrap(help_text, 90, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def build_parser(task) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m tasks.{task.name}",
        description=f"{task.description or task.name}  Run `<command> --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def add(name, help_text, config=True, run_dir_required=False):
        p = sub.add_parser(name, help=help_text, description=help_text,
                           epilog=_config_help(task) if config else None,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if config:
            p.add_argument("--config", metavar="FILE",
                           help=f"YAML config (default: configs/{task.name}.yaml, the demo config).")
            p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                           help="Override one config key, e.g. --set train.epochs=3 (repeatable; the "
                                "value is read as YAML; a key set twice takes its last value).")
        p.add_argument("--run-dir", metavar="DIR", required=run_dir_required,
                       help="Run folder (default: runs/<task>/<config name>).")
        return p

    p = add("train", "Fit the model, evaluate it on the test split and export it. Rerunning an "
                     "interrupted run with the same --run-dir resumes it.")
    p.add_argument("--overwrite", action="store_true", help="Replace a finished run in the run folder.")
    p = add("evaluate", "Re-evaluate a trained run and refresh metrics.json and report.md.",
            config=False, run_dir_required=True)
    p.add_argument("--split", choices=["test", "val"], default="test", help="Split to evaluate (default test).")
    p = add("tune", "KerasTuner search over tuner.search_space; rerun the same command to resume. Writes "
                    "best.yaml (a config train accepts), trials.csv/.md and plots/tuning.png.")
    p.add_argument("--tuner-id", help="Distributed search: 'chief' serves the oracle, any other id "
                                      "(tuner0, tuner1...) is a worker. All processes share --run-dir.")
    p.add_argument("--oracle-ip", help="Distributed search: address of the chief (e.g. 127.0.0.1).")
    p.add_argument("--oracle-port", type=int, help="Distributed search: port of the chief's oracle.")
    add("export", "(Re)export the trained run's SavedModel into <run>/export.", config=False,
        run_dir_required=True)
    p = add("predict", "Batch predictions from the exported SavedModel.", config=False, run_dir_required=True)
    p.add_argument("--input", required=True, metavar="FILE",
                   help=task.predict_input_help)
    p.add_argument("--output", required=True, metavar="FILE", help="Where to write the predictions.")
    p = add("serve", "Serve the exported SavedModel over HTTP with TensorFlow Serving's REST API "
                     "(POST /v1/models/<name>:predict with {\"instances\": [...]}), and a page to try it "
                     "in a browser at /.", config=False, run_dir_required=True)
    p.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    p.add_argument("--port", type=int, default=8501, help="Port (default 8501, TensorFlow Serving's REST port).")
    p.add_argument("--model-name", help=f"Model name in the URL (default {task.name}).")
    p.add_argument("--max-batch", type=int, default=1024,
                   help="Largest batch a request may send (default 1024, at most 100000).")
    p.add_argument("--max-connections", type=int, default=64,
                   help="Connections open at once; more get an immediate 503 (default 64, at most 10000).")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="Seconds a request may take to arrive in full; also the idle keep-alive limit "
                        "(default 5, at most 86400).")
    p.add_argument("--max-body", type=int, default=32 << 20, metavar="BYTES",
                   help="Largest request body; a longer one gets 413 unread (default 33554432, 32 MiB; "
                        "at most 1073741824, 1 GiB).")
    p.add_argument("--max-tokens", type=int, default=512, metavar="N",
                   help="Most tokens one prompt may ask to generate (the language model's max_tokens input); "
                        "more gets 400 naming the cap (default 512, at most 100000).")
    p.add_argument("--max-text", type=int, default=100_000, metavar="CHARS",
                   help="Longest string input, in characters; a longer one gets 400 (default 100000, "
                        "at most 10000000).")
    add("config", "Print the fully resolved config as YAML (validates it; no work is done).")
    return parser


def run_command(task, args) -> None:
    from common import lifecycle

    started = time.time()
    if args.command in ("train", "tune", "config"):
        config_path = args.config or task.demo_config_path
        config = lifecycle.load_config(task, config_path, args.overrides)
        if args.command != "config" and Path(config_path).resolve() == task.demo_config_path:
            lifecycle.with_demo_data(task, config)
    if args.command == "config":
        import yaml

        from common.config import to_dict

        print(yaml.safe_dump(to_dict(config), sort_keys=False).rstrip())
        return
    if args.command == "train":
        run, doc = lifecycle.train(task, config, args.run_dir, overwrite=args.overwrite)
        _print_metrics(task, doc, "test")
        _print_footer(run, started, ["model.keras", "metrics.json", "report.md", "export/"])
    elif args.command == "evaluate":
        run, doc = lifecycle.evaluate(task, args.run_dir, args.split)
        _print_metrics(task, doc, args.split)
        _print_footer(run, started, ["metrics.json", "report.md"])
    elif args.command == "export":
        run = lifecycle.export(task, args.run_dir)
        _print_footer(run, started, ["export/"])
    elif args.command == "predict":
        summary = lifecycle.predict(task, args.run_dir, args.input, args.output)
        print(table(["item", "value"], [[k, fmt(v)] for k, v in summary.items()]))
        print(f"\nPredictions written to {args.output} ({time.time() - started:.1f}s)")
    elif args.command == "serve":
        from common.page import render
        from common.run import RunFolder
        from common.serving import check_limits, make_server

        name = args.model_name or task.name
        limits = {"max_body": args.max_body, "max_tokens": args.max_tokens, "max_text": args.max_text}
        check_limits(name, args.host, args.port, args.max_batch, args.max_connections, args.timeout, **limits)
        run = RunFolder(args.run_dir)
        run.require(run.config_path, run.state_path)
        # before loading the export: another task's run folder is refused in one line naming its task
        config = lifecycle._load_saved_config(task, run)
        run.require(run.export_dir / "saved_model.pb",
                    hint=f"export it first: python -m tasks.{task.name} export --run-dir {run.path}")
        state = lifecycle.read_state(run)
        with lifecycle.reading_state(run, state):
            page = render(task, name, config, state, args.max_tokens)
        server = make_server(run.export_dir, name, args.host, args.port, args.max_batch,
                             max_connections=args.max_connections, timeout=args.timeout, page=page, **limits)
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        address = f"http://{args.host}:{server.server_port}"
        print(f"Serving {run.export_dir} at {address}/v1/models/{name}:predict, and a page to try it at "
              f"{address}/ (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()
    elif args.command == "tune":
        import os

        from common.tuning import tune

        distributed = [args.tuner_id, args.oracle_ip, args.oracle_port]
        if any(v is not None for v in distributed):
            if not all(v is not None for v in distributed):
                raise UserError("distributed tuning needs --tuner-id, --oracle-ip and --oracle-port together")
            os.environ.update(KERASTUNER_TUNER_ID=args.tuner_id, KERASTUNER_ORACLE_IP=args.oracle_ip,
                              KERASTUNER_ORACLE_PORT=str(args.oracle_port))

        run, best = tune(task, config, args.run_dir)
        if "worker" in best:
            print(table(["worker", "trials run"], [[best["worker"], best["trials run"]]]))
            return
        print(table(["best hyperparameter", "value"], [[k, fmt(v)] for k, v in best.items()]))
        _print_footer(run, started, ["best.yaml", "trials.csv", "trials.md", "plots/tuning.png"])


def _print_metrics(task, doc, split):
    print()
    print(metrics_table(doc[split], doc.get("baselines", {}) if split == "test" else {},
                        task.headline_metrics()))
    for name, text in doc[split].items():  # what report.md shows as text: a sample, a baseline's warning
        if isinstance(text, str):
            print(f"\n{name}: {text}")


def _print_footer(run, started, artifacts):
    print(f"\nRun folder: {run.path}  ({', '.join(artifacts)})  in {time.time() - started:.1f}s")


def main(task, argv=None) -> None:
    args = build_parser(task).parse_args(argv)
    try:
        run_command(task, args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
