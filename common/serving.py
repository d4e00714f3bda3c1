"""An HTTP endpoint over an exported SavedModel that speaks TensorFlow Serving's REST API.

    POST /v1/models/<name>:predict   {"instances": [...]}  -> {"predictions": [...]}
                                     {"inputs": {...}}     -> {"outputs": ...}
    GET  /v1/models/<name>           model status
    GET  /v1/models/<name>/metadata  signatures
    GET  /                           a page to try the model (with ``page``, see common/page)

A client written for TensorFlow Serving works unchanged. Client mistakes get a 4xx
with a clear JSON ``{"error": ...}`` message and never take the server down; an
unexpected failure gets a 500 with a generic message and an incident id, while the
traceback goes to the server's stderr (internals are never sent to the client, nor is
TensorFlow's text when a graph rejects an input: that goes to the log). HEAD works where
GET does; any other method, or GET / POST on a path that takes the other, gets 405 with
an ``Allow`` header.

Values are taken as sent: a number for a string input, a string, ``true`` or a fraction
for an integer input, NaN / Infinity (which Python's json reads although JSON has no
such numbers) or a number outside the input's dtype range get 400 naming the input.
Replies are strict JSON: a model output that is NaN or infinite is a 500 saying so
(never a bare ``NaN`` a client's parser would refuse). Inputs named ``max_tokens``,
``temperature``, ``top_k``, ``top_p`` and ``seed`` (the language model's ``generate``
settings) are checked against their ranges (`GENERATION_SETTINGS`) before the graph runs.

Limits, all parameters of :func:`make_server`:

* ``timeout`` (default 5 s): a request (request line, headers and body) must arrive in
  full within this many seconds of the server starting to wait for it, or the connection
  is closed (a 408 when the body was late). The same bound closes idle keep-alive
  connections, so a slow or half-sent request holds a thread for at most ``timeout``.
* ``max_body`` (default 32 MiB): a longer ``Content-Length`` gets 413 without the body
  being read. A missing length gets 411 (chunked bodies are not supported); a negative,
  non-numeric or conflicting one gets 400.
* ``max_connections`` (default 64): connections beyond this many open at once get an
  immediate ``503`` with ``Retry-After: 1`` (no waiting, no thread), so a flood cannot
  exhaust threads or memory.
* ``max_batch`` (default 1024): a request with more rows gets 400.
* ``max_tokens`` (default 512): a ``max_tokens`` input above it gets 400 naming the cap (not
  clamped: a client asking for more must learn it gets less).
* ``max_text`` (default 100,000): a string input longer than this many characters gets 400.

Each limit is a whole number from 1 up to a bound (``MAX_BATCH`` 100,000 rows, ``MAX_CONNECTIONS``
10,000, ``MAX_BODY`` 1 GiB, ``MAX_TOKENS`` 100,000, ``MAX_TEXT`` 10,000,000 characters, ``MAX_TIMEOUT``
a day): past these a limit no longer bounds anything the machine can give.

Together these bound the work of every request, and two more rules bound what a hostile
client can make the server hold or do:

* a client that disconnects before its reply stops its work: the graph call runs under a
  cancellation manager, and one watcher thread checks every ``WATCH_INTERVAL`` seconds
  whether the client of each running call has closed its connection (an end of file on
  the socket), cancelling the call if so (no reply is sent). A request whose client is
  gone before its call starts is not run at all.
* a request whose string inputs hold more than ``CHUNK_CHARS`` characters in all runs in
  row chunks of about that many characters (outputs concatenated), so the graph's own
  copies of a body near ``max_body`` stay small (a 32 MiB body of text would otherwise
  take the sentiment model's tokenizer several hundred MB at once); after a body over
  ``RELEASE_BYTES`` the memory it freed is handed back to the system (glibc's
  ``malloc_trim``), so a series of large bodies does not ratchet the resident size up.

A bad limit, an export that does not
load or an address that cannot be bound is refused by `make_server` with a `UserError`
(one line from the CLI) before anything is bound.

Speed: HTTP/1.1 keep-alive (one connection and one thread per client, not per request),
``TCP_NODELAY`` and a single write per response (no Nagle / delayed-ACK stalls), input
specs resolved once, and no global lock around the model (TensorFlow functions are
thread-safe, so concurrent requests overlap). The standard library's threading server
is enough here; TensorFlow Serving itself is the choice for heavy production traffic
(see the README's deployment section).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import io
import json
import logging
import re
import select
import socket
import sys
import threading
import time
import uuid
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf
from tensorflow.python.eager import cancellation  # the one way to stop a running graph call

from common.errors import UserError
from common.export import load_op_libraries

log = logging.getLogger("rnnsuite.serving")
WATCH_INTERVAL = 0.05  # seconds between checks for clients that left while their graph call runs
CHUNK_CHARS = 1 << 20  # string characters per graph call for a request with more (outputs are concatenated)
RELEASE_BYTES = 1 << 20  # after a request body larger than this, freed memory is handed back to the system


class ClientGone(Exception):
    """The client closed its connection before its reply: its graph call was cancelled or never started."""


class RequestError(Exception):
    """A client mistake: answered with ``status`` (400 unless given) and this message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# Inputs named like the settings of a generation signature (the language model's ``generate``) are checked
# before the graph runs, so an out-of-range value gets a 400 naming it instead of a silently empty, endless
# or nonsensical text: name -> (whether each value is allowed, given the server's token cap; the rule).
GENERATION_SETTINGS = {
    "max_tokens": (lambda a, cap: (a >= 1) & (a <= cap), "from 1 to {cap} (this server's cap on generated "
                                                         "tokens per prompt)"),
    "temperature": (lambda a, cap: a >= 0, "0 (greedy) or more"),
    "top_k": (lambda a, cap: a >= 0, "0 (no limit) or more"),
    "top_p": (lambda a, cap: (a > 0) & (a <= 1), "above 0 and at most 1 (1: no limit)"),
    "seed": (lambda a, cap: a >= 0, "0 or more"),
}
_KINDS = {"i": "whole numbers", "u": "whole numbers", "f": "numbers with a fraction", "b": "true/false",
          "U": "strings", "O": "nulls, objects or numbers too large"}


class SavedModelService:
    """Holds a loaded SavedModel and turns REST payloads into signature calls.

    Every request's work is bounded (``max_batch`` rows, strings of at most ``max_text`` characters,
    at most ``max_tokens`` generated tokens per prompt); ``predict`` given the client's socket cancels the
    graph call when the client disconnects (`ClientGone`), and runs a request of much text in row chunks.
    """

    def __init__(self, export_dir, name: str, max_batch: int = 1024, *, max_tokens: int = 512,
                 max_text: int = 100_000):
        self.name = name
        self.max_batch, self.max_tokens, self.max_text = max_batch, max_tokens, max_text
        load_op_libraries(export_dir)  # a subword run's tokenizer ops (TensorFlow Text)
        self.loaded = tf.saved_model.load(str(export_dir))
        self.signatures = dict(self.loaded.signatures)
        # resolved once: looking them up costs more than the conversions on a small request
        self.specs = {name: dict(fn.structured_input_signature[1]) for name, fn in self.signatures.items()}
        self._metadata = self._build_metadata()

    def _inputs_spec(self, signature):
        return self.specs[signature]

    def metadata(self) -> dict:
        return self._metadata

    def _build_metadata(self) -> dict:
        def spec_json(spec):
            dims = [-1 if d is None else int(d) for d in spec.shape]
            return {"dtype": spec.dtype.name, "shape": dims}

        return {"model_spec": {"name": self.name, "version": "1"}, "metadata": {"signature_def": {
            name: {"inputs": {k: spec_json(v) for k, v in self._inputs_spec(name).items()},
                   "outputs": {k: spec_json(v) for k, v in fn.structured_outputs.items()}}
            for name, fn in self.signatures.items()}}}

    def _tensor(self, name, spec, value):
        expected = f"input '{name}' must be {spec.dtype.name} values of shape {[d for d in spec.shape]}"
        try:
            if spec.dtype == tf.string:
                array = self._strings(name, value)
            else:
                array = self._numbers(name, spec, value)
        except (ValueError, TypeError) as exc:  # ragged nesting
            raise RequestError(f"{expected} ({_short(exc)})") from None
        if not spec.shape.is_compatible_with(array.shape):
            raise RequestError(f"input '{name}' has shape {list(array.shape)}, expected "
                               f"{['batch' if d is None else d for d in spec.shape.as_list()]}")
        if name in GENERATION_SETTINGS and (spec.dtype.is_integer or spec.dtype.is_floating):
            allowed, rule = GENERATION_SETTINGS[name]
            ok = allowed(array, self.max_tokens)
            if not ok.all():
                raise RequestError(f"input '{name}' must be {rule.format(cap=self.max_tokens)}, "
                                   f"got {array[~ok][0].item():g}")
        return tf.constant(array, dtype=spec.dtype)

    def _strings(self, name, value):
        array = np.asarray(value, dtype=object)
        flat = array.reshape(-1)
        if not all(isinstance(v, str) for v in flat):
            raise RequestError(f"input '{name}' must hold strings")
        if any(len(v) > self.max_text for v in flat):
            raise RequestError(f"input '{name}' holds a string of more than {self.max_text} characters, this "
                               "server's limit; shorten or split it")
        try:
            return np.array([v.encode("utf-8") for v in flat], dtype=object).reshape(array.shape)
        except UnicodeEncodeError:  # a lone surrogate such as "\ud800", which JSON's \u escapes can carry
            raise RequestError(f"input '{name}' holds a string that is not valid Unicode (an unpaired "
                               "surrogate escape such as \\ud800)") from None

    def _call(self, fn, tensors: dict, row_chars: list, connection) -> dict:
        """``fn`` on ``tensors`` as numpy outputs: in row chunks when the rows' strings (``row_chars``
        characters each) hold over ``CHUNK_CHARS`` in all, each call cancelled if the client of ``connection``
        leaves."""
        batch = len(row_chars)
        bounds = _chunk_bounds(row_chars, CHUNK_CHARS) if sum(row_chars) > CHUNK_CHARS else [0, batch]
        parts = []
        for start, stop in zip(bounds, bounds[1:]):
            chunk = tensors if (start, stop) == (0, batch) else {k: v[start:stop] for k, v in tensors.items()}
            parts.append({k: v.numpy() for k, v in _cancellable(fn, chunk, connection).items()})
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _numbers(self, name, spec, value):
        """Numbers exactly as sent: no string, boolean or fraction is coerced into a number silently."""
        array = np.asarray(value)
        if array.size == 0:
            return array.astype(spec.dtype.as_numpy_dtype)
        wanted = "b" if spec.dtype == tf.bool else "iu" if spec.dtype.is_integer else "iuf"
        kind = array.dtype.kind
        if kind in "iuf" and _holds_bool(value):  # numpy reads [1.5, true] as [1.5, 1.0]
            kind = "b"
        if kind not in wanted:
            raise RequestError(f"input '{name}' must be {spec.dtype.name} values of shape "
                               f"{[d for d in spec.shape]}, got {_KINDS.get(kind, 'other values')}")
        if spec.dtype.is_integer:
            limits = np.iinfo(spec.dtype.as_numpy_dtype)
            if array.min() < limits.min or array.max() > limits.max:
                raise RequestError(f"input '{name}' holds a number outside the {spec.dtype.name} range "
                                   f"({limits.min} to {limits.max})")
            return array.astype(spec.dtype.as_numpy_dtype)
        if spec.dtype.is_floating:
            if not np.isfinite(array).all():  # Python's json reads NaN, Infinity and 1e999 without a word
                raise RequestError(f"input '{name}' holds NaN or an infinity, which no model input can use "
                                   "(and JSON does not allow); send finite numbers")
            with np.errstate(over="ignore"):  # an overflow is the 400 below, not a warning on stderr
                cast = array.astype(spec.dtype.as_numpy_dtype)
            if not np.isfinite(cast).all():
                limit = np.finfo(spec.dtype.as_numpy_dtype).max
                raise RequestError(f"input '{name}' holds a number outside the {spec.dtype.name} range "
                                   f"(about -{limit:.2g} to {limit:.2g})")
            return cast
        return array  # booleans

    def predict(self, body: dict, connection=None) -> dict:
        """The reply to a predict request; ``connection`` (the client's socket) is watched while the graph
        runs, and `ClientGone` raised if the client closes it first (the work is cancelled)."""
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object with 'instances' or 'inputs'")
        signature = body.get("signature_name", "serving_default")
        if not isinstance(signature, str):
            raise RequestError(f"'signature_name' must be a string; this model has {', '.join(self.signatures)}")
        if signature not in self.signatures:
            raise RequestError(f"unknown signature_name {_short(signature)!r}; this model has "
                               f"{', '.join(self.signatures)}")
        specs = self._inputs_spec(signature)
        unknown = set(body) - {"instances", "inputs", "signature_name"}
        if unknown or ("instances" in body) == ("inputs" in body):
            raise RequestError("the request must have exactly one of 'instances' (row format) or 'inputs' "
                               f"(columnar format){'; unknown field(s) ' + ', '.join(sorted(unknown)) if unknown else ''}")
        row_format = "instances" in body
        if row_format:
            instances = body["instances"]
            if not isinstance(instances, list) or not instances:
                raise RequestError("'instances' must be a non-empty list")
            if len(specs) == 1:
                (only,) = specs
                if all(isinstance(i, dict) for i in instances):
                    instances = [i.get(only) if set(i) == {only} else _bad_keys(i, specs) for i in instances]
                columns = {only: instances}
            else:
                if not all(isinstance(i, dict) for i in instances):
                    raise RequestError(f"each instance must be an object with {', '.join(specs)}")
                for instance in instances:
                    if set(instance) != set(specs):
                        _bad_keys(instance, specs)
                columns = {k: [i[k] for i in instances] for k in specs}
        else:
            inputs = body["inputs"]
            columns = inputs if isinstance(inputs, dict) else {next(iter(specs)): inputs}
            if set(columns) != set(specs):
                _bad_keys(columns, specs)
        sizes = {k: len(v) if isinstance(v, list) else 1 for k, v in columns.items()}
        if len(set(sizes.values())) > 1:  # a signature would broadcast or fail on them: neither is asked for
            raise RequestError("the inputs have different batch sizes (" +
                               ", ".join(f"{k} {n}" for k, n in sizes.items()) + "); give every input one "
                               "value per row")
        batch = max(sizes.values())
        if batch == 0:
            raise RequestError("the inputs hold no rows; send at least one")
        if batch > self.max_batch:
            raise RequestError(f"batch of {batch} is over this server's limit of {self.max_batch}; "
                               "split the request")
        tensors = {name: self._tensor(name, specs[name], value) for name, value in columns.items()}
        try:  # no lock: concrete functions are thread-safe, and concurrent requests overlap
            row_chars = _row_chars(columns, specs, batch)
            outputs = self._call(self.signatures[signature], tensors, row_chars, connection)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            # TensorFlow's text names graph nodes and source paths: it goes to the log, not to the client
            log.warning("signature %s rejected a request: %s", signature, exc)
            raise RequestError(f"the model rejected the input of signature {signature!r}; check each value "
                               f"against GET /v1/models/{self.name}/metadata") from None
        for key, value in outputs.items():
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                log.error("signature %s output %s is NaN or infinite for a request", signature, key)
                raise RequestError(f"the model's output '{key}' for this input is not a finite number "
                                   "(NaN or infinity), which JSON cannot carry; check that the input's "
                                   "values are in the range the model was trained on",
                                   HTTPStatus.INTERNAL_SERVER_ERROR)
        outputs = {k: _jsonable(v) for k, v in outputs.items()}
        if not row_format:
            return {"outputs": outputs if len(outputs) > 1 else next(iter(outputs.values()))}
        n = len(next(iter(outputs.values())))
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(n)]}


def _row_chars(columns: dict, specs: dict, batch: int) -> list:
    """Characters of string input per row (all string inputs together) of a request's ``columns``."""
    rows = [0] * batch
    for name, value in columns.items():
        if specs[name].dtype != tf.string:
            continue
        for i, row in enumerate(value if isinstance(value, list) and len(value) == batch else [value]):
            stack = [row]
            while stack:
                item = stack.pop()
                if isinstance(item, str):
                    rows[i] += len(item)
                elif isinstance(item, list):
                    stack.extend(item)
    return rows


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def _release_memory() -> bool:
    """Hand the memory freed by a large request back to the system (glibc's ``malloc_trim``), so that a few
    large bodies, each freed in turn, do not leave the server's resident size at their sum; False where the C
    library has no ``malloc_trim``."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True


def _chunk_bounds(sizes, limit: int) -> list:
    """Row boundaries ``[0, ..., len(sizes)]`` cutting rows of these ``sizes`` into runs of at most ``limit``
    in all (a row larger than ``limit`` is a run of its own)."""
    bounds, total = [0], 0
    for i, size in enumerate(sizes):
        if total and total + size > limit:
            bounds.append(i)
            total = 0
        total += int(size)
    bounds.append(len(sizes))
    return bounds


def _client_gone(sock) -> bool:
    """Whether the peer of ``sock`` has closed it (an end of file, or a reset, waiting to be read); data
    waiting (a pipelined request) is not a close."""
    try:
        poller = select.poll()  # not select.select: no limit on the descriptor's number
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0)) and sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):  # reset, or closed here already
        return True


class _Watcher:
    """One thread for all running graph calls: every ``WATCH_INTERVAL`` s, cancels each call whose client has
    closed its connection. Started on first use."""

    def __init__(self):
        self._calls: dict = {}  # id -> (socket, CancellationManager)
        self._lock = threading.Lock()
        self._thread = None

    def add(self, key, sock, manager):
        with self._lock:
            self._calls[key] = (sock, manager)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="serving-watch", daemon=True)
                self._thread.start()

    def remove(self, key):
        with self._lock:
            self._calls.pop(key, None)

    def _run(self):
        while True:
            time.sleep(WATCH_INTERVAL)
            with self._lock:
                calls = list(self._calls.items())
            for key, (sock, manager) in calls:
                if _client_gone(sock):
                    manager.start_cancel()
                    self.remove(key)


_WATCHER = _Watcher()


def _cancellable(fn, tensors: dict, connection):
    """``fn(**tensors)``, cancelled (`ClientGone`) if the client of ``connection`` closes it meanwhile."""
    if connection is None:
        return fn(**tensors)
    if _client_gone(connection):  # left while its request was read and checked: run nothing
        raise ClientGone()
    manager = cancellation.CancellationManager()
    key = object()
    _WATCHER.add(key, connection, manager)
    try:
        return manager.get_cancelable_function(fn)(**tensors)
    except tf.errors.CancelledError:
        raise ClientGone() from None
    finally:
        _WATCHER.remove(key)


def _bad_keys(instance, specs):
    got = _short(", ".join(map(str, instance))) or "none"
    raise RequestError(f"expected input(s) {', '.join(specs)}, got {got}")


def _holds_bool(value) -> bool:
    """Whether a JSON value (nested lists) holds true or false anywhere."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            return True
        if isinstance(item, list):
            stack.extend(item)
    return False


def _short(value, limit: int = 200) -> str:
    """First line of a message (or value), cut to ``limit`` characters: error replies stay small."""
    text = (str(value).splitlines() or [""])[0]
    return text if len(text) <= limit else text[:limit] + "..."


def _jsonable(array):
    if array.dtype.kind in "SO":
        return np.vectorize(lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b,
                            otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


_LENGTH = re.compile(r"[0-9]{1,18}")


class _DeadlineSocketIO(socket.SocketIO):
    """A socket reader with an overall deadline (not just a per-recv timeout).

    A per-recv timeout alone lets a client that trickles one byte a second hold a thread
    forever; here every recv gets only what is left of the request's time.
    """

    deadline = None  # time.monotonic() by which the current request must have arrived

    def readinto(self, b):
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the request did not arrive in time")
            self._sock.settimeout(remaining)
        return super().readinto(b)


def make_handler(service: SavedModelService, max_body: int = 32 << 20, timeout: float = 5.0, page=None):
    """The request handler class; ``page`` (a `common.page.Page`, built once) is what GET / answers, from
    memory: the page adds no route that reads a file or runs anything but the model's signatures."""
    prefix = f"/v1/models/{service.name}"
    predict_paths = (f"{prefix}:predict", f"{prefix}/versions/1:predict")
    status_paths = (prefix, f"{prefix}/versions/1")
    metadata_paths = (f"{prefix}/metadata", f"{prefix}/versions/1/metadata")

    class Handler(BaseHTTPRequestHandler):
        server_version = "rnnsuite-serve/1"
        protocol_version = "HTTP/1.1"  # keep-alive: no connection setup and no new thread per request

        def setup(self):
            self.connection = self.request
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connection.settimeout(timeout)
            self._reader = _DeadlineSocketIO(self.connection, "rb")
            self.rfile = io.BufferedReader(self._reader, 1 << 16)
            # buffered: status line, headers and body leave in one write (flushed per request)
            self.wfile = self.connection.makefile("wb", 1 << 16)

        def handle_one_request(self):
            self._reader.deadline = time.monotonic() + timeout  # also bounds an idle keep-alive wait
            super().handle_one_request()

        def send_response(self, code, message=None):
            self._reader.deadline = None  # the request is in; writing gets the plain timeout
            self.connection.settimeout(timeout)
            super().send_response(code, message)

        def log_message(self, *args):  # quiet: one line per request is noise for a demo server
            pass

        def __getattr__(self, name):
            """Any method without a ``do_<METHOD>`` (PUT, DELETE, OPTIONS, an unknown verb): 405 with
            ``Allow``, where http.server would answer 501, which says the server does not know the method."""
            if name.startswith("do_"):
                return self._not_allowed
            raise AttributeError(name)

        def _allowed(self) -> str | None:
            """The methods the requested path takes, or None for a path this server does not have."""
            if self.path in predict_paths:
                return "POST"
            if self.path.rstrip("/") in status_paths + metadata_paths or (page and self.path == "/"):
                return "GET, HEAD"
            return None

        def _not_allowed(self):
            allowed = self._allowed() or "GET, HEAD, POST"
            message = f"method {_short(self.command, 40)} is not allowed on {_short(self.path)}; " \
                      f"use {allowed}"
            self._send(405, {"error": message}, close=True, allow=allowed, head=self.command == "HEAD")

        def send_error(self, code, message=None, explain=None):
            """http.server's own errors (bad request line, headers, method) as JSON, closing."""
            if self.request_version == "HTTP/0.9":  # an unparsable request line: still answer with headers
                self.request_version = "HTTP/1.0"
            try:
                phrase = HTTPStatus(code).phrase
            except ValueError:
                phrase = "error"
            self._send(code, {"error": message or explain or phrase}, close=True)

        def _send(self, status, payload, close=False, allow=None, head=False, headers=()):
            """One JSON reply; ``allow_nan=False``: a bare NaN / Infinity is not JSON a client can read.
            A ``bytes`` payload is sent as it is, with its own ``headers`` (the page)."""
            data = payload if isinstance(payload, bytes) else json.dumps(payload, allow_nan=False).encode()
            self.send_response(status)
            for key, value in headers or [("Content-Type", "application/json")]:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            if allow:
                self.send_header("Allow", allow)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def do_GET(self, head=False):  # noqa: N802 (http.server naming)
            path = self.path.rstrip("/")
            if path in status_paths:
                version = {"version": "1", "state": "AVAILABLE",
                           "status": {"error_code": "OK", "error_message": ""}}
                self._send(200, {"model_version_status": [version]}, head=head)
            elif path in metadata_paths:
                self._send(200, service.metadata(), head=head)
            elif page and self.path == "/":
                self._send(200, page.html, head=head, headers=page.headers)
            elif self.path in predict_paths:
                self._not_allowed()
            else:
                self._send(404, {"error": f"unknown path {_short(self.path)}; this server has {prefix}"},
                           head=head)

        def do_HEAD(self):  # noqa: N802
            self.do_GET(head=True)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding"):
                raise RequestError("chunked request bodies are not supported; send a Content-Length",
                                   HTTPStatus.LENGTH_REQUIRED)
            values = self.headers.get_all("Content-Length")
            if not values:
                raise RequestError("a Content-Length header is required", HTTPStatus.LENGTH_REQUIRED)
            values = {v.strip() for v in values}
            if len(values) > 1 or not _LENGTH.fullmatch(next(iter(values))):
                raise RequestError(f"Content-Length must be one non-negative integer, got "
                                   f"{_short(', '.join(sorted(values)), 40)!r}")
            length = int(next(iter(values)))
            if length > max_body:
                raise RequestError(f"request body of {length} bytes is over the {max_body}-byte limit",
                                   HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            try:
                data = self.rfile.read(length)
            except TimeoutError:
                raise RequestError(f"the request body did not arrive within {timeout:g}s",
                                   HTTPStatus.REQUEST_TIMEOUT) from None
            if len(data) < length:
                raise RequestError(f"the request body ended after {len(data)} of {length} bytes")
            return data

        def do_POST(self):  # noqa: N802
            if self._allowed() == "GET, HEAD":
                self._not_allowed()
                return
            if self.path not in predict_paths:
                self._send(404, {"error": f"unknown path {_short(self.path)}; POST to {prefix}:predict"},
                           close=True)  # the body was not read: the connection cannot be reused
                return
            body_read, size = False, 0
            try:
                data = self._read_body()
                body_read, size = True, len(data)
                try:
                    body = json.loads(data or b"null")
                    data = None  # the parsed body is all that is needed: a large one is not held twice
                except RecursionError:
                    raise RequestError("the request body nests JSON too deeply") from None
                except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
                    raise RequestError(f"the request body is not valid JSON ({_short(exc)})") from None
                self._send(200, service.predict(body, self.connection))
            except ClientGone:  # nobody to answer: the connection is closed without a reply
                self.close_connection = True
            except RequestError as exc:
                self._send(exc.status, {"error": str(exc)}, close=not body_read)
            except Exception:  # noqa: BLE001 - the server must survive any request, and keep internals
                incident = uuid.uuid4().hex[:12]
                log.error("internal error %s on POST %s", incident, self.path, exc_info=True)
                self._send(500, {"error": f"internal error (incident {incident}; details are in the "
                                          "server log)"}, close=not body_read)
            finally:
                if size > RELEASE_BYTES:
                    data = body = None
                    _release_memory()

    return Handler


class ModelHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server with a cap on open connections.

    Past ``max_connections`` a new connection gets an immediate 503 (``Retry-After: 1``)
    from the accepting thread, without a thread of its own; the refused socket lingers
    up to a second so the reply is not lost to a reset, then closes.
    """

    daemon_threads = True  # daemon handler threads: stopping never waits for idle keep-alive clients
    request_queue_size = 128  # listen backlog: a burst of connections must not be dropped

    def __init__(self, address, handler, max_connections: int = 64):
        self._refused = deque()  # (closing time, socket); set first: a failed bind calls server_close
        super().__init__(address, handler)
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        body = json.dumps({"error": f"server busy: {max_connections} connections are open (its "
                                    "limit); retry shortly"}).encode()
        self._busy_reply = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
                            ).encode() + body

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, sock):
        try:
            sock.setblocking(False)
            _drain(sock)
            sock.send(self._busy_reply)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if len(self._refused) >= 256:
            _close(self._refused.popleft()[1])
        self._refused.append((time.monotonic() + 1.0, sock))

    def service_actions(self):  # runs after each request and every poll interval (0.5 s)
        super().service_actions()
        now = time.monotonic()
        while self._refused and self._refused[0][0] <= now:
            _close(self._refused.popleft()[1])

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):  # the client went away: nothing to report
            return
        log.error("error on the connection from %s", client_address, exc_info=True)

    def server_close(self):
        super().server_close()
        while self._refused:
            _close(self._refused.popleft()[1])


def _drain(sock):
    try:
        while sock.recv(1 << 16):
            pass
    except OSError:  # BlockingIOError: nothing more has arrived
        pass


def _close(sock):
    _drain(sock)
    try:
        sock.close()
    except OSError:
        pass


MAX_TIMEOUT = 86400.0  # a day: longer is no request timeout at all (past ~1e9 s the socket's timer overflows)
# Upper bounds of the other limits: past these a limit no longer protects the server, it only lets one
# request (or a flood) exhaust memory, threads or time. A typo (an extra zero or three) is caught at start.
MAX_BATCH = 100_000  # rows run as one graph call: activations grow with rows x length x units
MAX_CONNECTIONS = 10_000  # a thread and a descriptor each: more run out of both before the cap is reached
MAX_BODY = 1 << 30  # 1 GiB is read into memory whole, and its JSON parses into several times that
MAX_TOKENS = 100_000  # the config's own bound on model.generation.max_tokens (common.config SIZE_LIMITS)
MAX_TEXT = 10_000_000  # one string runs in one graph call whatever CHUNK_CHARS, its copies several times it
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_limits(name, host, port, max_batch, max_connections, timeout, max_body, max_tokens, max_text):
    """Refuse a setting the server cannot honour, in one line naming its `serve` flag, before any loading."""
    def whole(flag, value, low, high):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise UserError(f"serve {flag} must be a whole number from {low} to {high}, got "
                            f"{_short(repr(value), 40)}")

    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UserError(f"serve --model-name {_short(name, 40)!r} cannot be used in the URL "
                        "/v1/models/<name>; give 1-100 letters, digits, '.', '_' or '-' (starting with a "
                        "letter or digit)")
    if not isinstance(host, str) or not host.strip():
        raise UserError(f"serve --host {_short(host, 40)!r} is not an address; give one such as 127.0.0.1 "
                        "(this machine only) or 0.0.0.0 (every interface)")
    whole("--port", port, 0, 65535)
    whole("--max-batch", max_batch, 1, MAX_BATCH)
    whole("--max-connections", max_connections, 1, MAX_CONNECTIONS)
    whole("--max-body", max_body, 1, MAX_BODY)
    whole("--max-tokens", max_tokens, 1, MAX_TOKENS)
    whole("--max-text", max_text, 1, MAX_TEXT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT:
        raise UserError(f"serve --timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
                        f"got {_short(repr(timeout), 40)}")


def make_server(export_dir, name, host="127.0.0.1", port=8501, max_batch=1024, *, max_connections=64, timeout=5.0,
                max_body=32 << 20, max_tokens=512, max_text=100_000, page=None) -> ModelHTTPServer:
    """Check the limits, load the export and bind; call ``serve_forever()`` on the result. See the module doc
    for the limits; a bad one, an export that does not load or an address that cannot be bound raises
    `UserError` (nothing is bound then). ``page`` (`common.page.render`) is answered on GET /; without it
    GET / is a 404 like any unknown path."""
    check_limits(name, host, port, max_batch, max_connections, timeout, max_body, max_tokens, max_text)
    try:
        service = SavedModelService(export_dir, name, max_batch, max_tokens=max_tokens, max_text=max_text)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign export fails in many ways, all fixable
        reason = f"{type(exc).__name__}: {_short(exc, 120)}"
        raise UserError(f"{export_dir} does not load as a SavedModel ({reason}); export the run again with "
                        "the `export` command") from None
    try:
        return ModelHTTPServer((host, port), make_handler(service, max_body, timeout, page), max_connections)
    except (OSError, OverflowError) as exc:  # address in use, a port below 1024 without rights, unknown host
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _short(exc, 120)
        raise UserError(f"serve cannot listen on {_short(host, 40)}:{port} ({reason}); choose another --port "
                        "or --host") from None
