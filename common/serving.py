"""An HTTP endpoint over an exported SavedModel that speaks TensorFlow Serving's REST API.

    POST /v1/models/<name>:predict   {"instances": [...]}  -> {"predictions": [...]}
                                     {"inputs": {...}}     -> {"outputs": ...}
    GET  /v1/models/<name>           model status
    GET  /v1/models/<name>/metadata  signatures

A client written for TensorFlow Serving works unchanged. Malformed requests get a
400 with a clear message and never take the server down. The standard library's
threading HTTP server is enough here; TensorFlow Serving itself is the choice for
heavy production traffic (see the README's deployment section).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf


class RequestError(Exception):
    """A client mistake: answered with 400 and this message."""


class SavedModelService:
    """Holds a loaded SavedModel and turns REST payloads into signature calls."""

    def __init__(self, export_dir, name: str, max_batch: int = 1024):
        self.name = name
        self.max_batch = max_batch
        self.loaded = tf.saved_model.load(str(export_dir))
        self.signatures = dict(self.loaded.signatures)
        self.lock = threading.Lock()

    def _inputs_spec(self, signature):
        return dict(self.signatures[signature].structured_input_signature[1])

    def metadata(self) -> dict:
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
        except (ValueError, TypeError) as exc:
            raise RequestError(f"input '{name}' must be {spec.dtype.name} values of shape "
                               f"{[d for d in spec.shape]} ({exc})") from None
        if not spec.shape.is_compatible_with(tensor.shape):
            raise RequestError(f"input '{name}' has shape {tensor.shape.as_list()}, expected "
                               f"{['batch' if d is None else d for d in spec.shape.as_list()]}")
        return tensor

    def predict(self, body: dict) -> dict:
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object with 'instances' or 'inputs'")
        signature = body.get("signature_name", "serving_default")
        if signature not in self.signatures:
            raise RequestError(f"unknown signature_name {signature!r}; this model has "
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
        with self.lock:
            try:
                outputs = self.signatures[signature](**tensors)
            except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
                raise RequestError(f"the model rejected the input: {str(exc).splitlines()[0]}") from None
        outputs = {k: _jsonable(v.numpy()) for k, v in outputs.items()}
        if not row_format:
            return {"outputs": outputs if len(outputs) > 1 else next(iter(outputs.values()))}
        n = len(next(iter(outputs.values())))
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(n)]}


def _bad_keys(instance, specs):
    raise RequestError(f"expected input(s) {', '.join(specs)}, got {', '.join(map(str, instance)) or 'none'}")


def _jsonable(array):
    if array.dtype.kind in "SO":
        return np.vectorize(lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b,
                            otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def make_handler(service: SavedModelService, max_body: int = 32 << 20):
    prefix = f"/v1/models/{service.name}"

    class Handler(BaseHTTPRequestHandler):
        server_version = "rnnsuite-serve/1"

        def log_message(self, *args):  # quiet: one line per request is noise for a demo server
            pass

        def _send(self, status, payload):
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server naming)
            if self.path.rstrip("/") in (prefix, f"{prefix}/versions/1"):
                self._send(200, {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                           "status": {"error_code": "OK", "error_message": ""}}]})
            elif self.path.rstrip("/") == f"{prefix}/metadata":
                self._send(200, service.metadata())
            else:
                self._send(404, {"error": f"unknown path {self.path}; this server has {prefix}"})

        def do_POST(self):  # noqa: N802
            if self.path not in (f"{prefix}:predict", f"{prefix}/versions/1:predict"):
                self._send(404, {"error": f"unknown path {self.path}; POST to {prefix}:predict"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > max_body:
                    raise RequestError(f"request body of {length} bytes is over the {max_body}-byte limit")
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise RequestError(f"the request body is not valid JSON ({exc})") from None
                self._send(200, service.predict(body))
            except RequestError as exc:
                self._send(400, {"error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - the server must survive any request
                self._send(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

    return Handler


def make_server(export_dir, name, host="127.0.0.1", port=8501, max_batch=1024) -> ThreadingHTTPServer:
    service = SavedModelService(export_dir, name, max_batch)
    return ThreadingHTTPServer((host, port), make_handler(service))
