"""An HTTP endpoint over an exported SavedModel that speaks TensorFlow Serving's REST API.

    POST /v1/models/<name>:predict   {"instances": [...]}  -> {"predictions": [...]}
                                     {"inputs": {...}}     -> {"outputs": ...}
    GET  /v1/models/<name>           model status
    GET  /v1/models/<name>/metadata  signatures

A client written for TensorFlow Serving works unchanged. Client mistakes get a 4xx
with a clear JSON ``{"error": ...}`` message and never take the server down; an
unexpected failure gets a 500 with a generic message and an incident id, while the
traceback goes to the server's stderr (internals are never sent to the client).

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
* ``max_batch``: a request with more rows gets 400.

Speed: HTTP/1.1 keep-alive (one connection and one thread per client, not per request),
``TCP_NODELAY`` and a single write per response (no Nagle / delayed-ACK stalls), input
specs resolved once, and no global lock around the model (TensorFlow functions are
thread-safe, so concurrent requests overlap). The standard library's threading server
is enough here; TensorFlow Serving itself is the choice for heavy production traffic
(see the README's deployment section).
"""
from __future__ import annotations

import io
import json
import logging
import re
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

log = logging.getLogger("rnnsuite.serving")

class RequestError(Exception):
    """A client mistake: answered with ``status`` (400 unless given) and this message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class SavedModelService:
    """Holds a loaded SavedModel and turns REST payloads into signature calls."""

    def __init__(self, export_dir, name: str, max_batch: int = 1024):
        self.name = name
        self.max_batch = max_batch
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
        try:
            if spec.dtype == tf.string:
                array = np.asarray(value, dtype=object)
                if array.size and not all(isinstance(v, str) for v in array.reshape(-1)):
                    raise RequestError(f"input '{name}' must hold strings")
                tensor = tf.constant(array.astype(str).tolist() if array.size else array, dtype=tf.string)
            else:
                tensor = tf.constant(np.asarray(value, dtype=spec.dtype.as_numpy_dtype))
        except (ValueError, TypeError, OverflowError) as exc:
            raise RequestError(f"input '{name}' must be {spec.dtype.name} values of shape "
                               f"{[d for d in spec.shape]} ({_short(exc)})") from None
        if not spec.shape.is_compatible_with(tensor.shape):
            raise RequestError(f"input '{name}' has shape {tensor.shape.as_list()}, expected "
                               f"{['batch' if d is None else d for d in spec.shape.as_list()]}")
        return tensor

    def predict(self, body: dict) -> dict:
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
        batch = max(len(v) if isinstance(v, list) else 1 for v in columns.values())
        if batch > self.max_batch:
            raise RequestError(f"batch of {batch} is over this server's limit of {self.max_batch}; "
                               "split the request")
        tensors = {name: self._tensor(name, specs[name], value) for name, value in columns.items()}
        try:  # no lock: concrete functions are thread-safe, and concurrent requests overlap
            outputs = self.signatures[signature](**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            raise RequestError(f"the model rejected the input: {_short(exc)}") from None
        outputs = {k: _jsonable(v.numpy()) for k, v in outputs.items()}
        if not row_format:
            return {"outputs": outputs if len(outputs) > 1 else next(iter(outputs.values()))}
        n = len(next(iter(outputs.values())))
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(n)]}


def _bad_keys(instance, specs):
    got = _short(", ".join(map(str, instance))) or "none"
    raise RequestError(f"expected input(s) {', '.join(specs)}, got {got}")


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


def make_handler(service: SavedModelService, max_body: int = 32 << 20, timeout: float = 5.0):
    prefix = f"/v1/models/{service.name}"
    predict_paths = (f"{prefix}:predict", f"{prefix}/versions/1:predict")

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

        def send_error(self, code, message=None, explain=None):
            """http.server's own errors (bad request line, headers, method) as JSON, closing."""
            if self.request_version == "HTTP/0.9":  # an unparsable request line: still answer with headers
                self.request_version = "HTTP/1.0"
            try:
                phrase = HTTPStatus(code).phrase
            except ValueError:
                phrase = "error"
            self._send(code, {"error": message or explain or phrase}, close=True)

        def _send(self, status, payload, close=False):
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server naming)
            path = self.path.rstrip("/")
            if path in (prefix, f"{prefix}/versions/1"):
                self._send(200, {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                           "status": {"error_code": "OK", "error_message": ""}}]})
            elif path in (f"{prefix}/metadata", f"{prefix}/versions/1/metadata"):
                self._send(200, service.metadata())
            else:
                self._send(404, {"error": f"unknown path {_short(self.path)}; this server has {prefix}"})

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
            if self.path not in predict_paths:
                self._send(404, {"error": f"unknown path {_short(self.path)}; POST to {prefix}:predict"},
                           close=True)  # the body was not read: the connection cannot be reused
                return
            body_read = False
            try:
                data = self._read_body()
                body_read = True
                try:
                    body = json.loads(data or b"null")
                except RecursionError:
                    raise RequestError("the request body nests JSON too deeply") from None
                except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
                    raise RequestError(f"the request body is not valid JSON ({_short(exc)})") from None
                self._send(200, service.predict(body))
            except RequestError as exc:
                self._send(exc.status, {"error": str(exc)}, close=not body_read)
            except Exception:  # noqa: BLE001 - the server must survive any request, and keep internals
                incident = uuid.uuid4().hex[:12]
                log.error("internal error %s on POST %s", incident, self.path, exc_info=True)
                self._send(500, {"error": f"internal error (incident {incident}; details are in the "
                                          "server log)"}, close=not body_read)

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
        super().__init__(address, handler)
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._refused = deque()  # (closing time, socket)
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


def make_server(export_dir, name, host="127.0.0.1", port=8501, max_batch=1024, *, max_connections=64,
                timeout=5.0, max_body=32 << 20) -> ModelHTTPServer:
    """Load the export and bind; call ``serve_forever()`` on the result. See the module doc for limits."""
    service = SavedModelService(export_dir, name, max_batch)
    return ModelHTTPServer((host, port), make_handler(service, max_body, timeout), max_connections)
