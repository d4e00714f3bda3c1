"""The REST server (common/serving.py) against a tiny SavedModel: protocol, limits, malformed HTTP.

The model is a tf.Module with signatures (no training): ``serving_default`` maps a
string batch to its lengths, ``double`` doubles a float32 [batch, 2] input, ``log`` takes
a float32 [batch] input's logarithm (NaN or -inf for a value <= 0), ``positive`` fails an
assertion for a value <= 0, and ``sample`` has the inputs of the language model's
``generate`` (it echoes ``max_tokens``). Malformed HTTP goes over raw sockets.

No test here asserts how long anything took (speed is measured by benchmarks/serving_latency.py
and benchmarks/serving_load.py); the limits are checked by what happens. Servers use a request
timeout that never fires by itself (``LONG``), so a bad request whose body never comes must
still be answered from its headers alone. The timeout tests run the server on a fake clock
(``FakeClock``, the ``clocked`` fixture): the test moves it after the client has sent all it
will send, so a trickling client is cut exactly when the clock passes its deadline, and a
silent one is left ``SHORT`` real seconds, which must end it with a 408 or a close and free
its thread. ``GUARD`` only bounds a wait that a broken mechanism would make endless.
"""
import http.client
import json
import logging
import socket
import threading
import time
from types import SimpleNamespace

import pytest
import tensorflow as tf

from common import serving
from common.errors import UserError
from common.page import Page
from common.serving import ModelHTTPServer, SavedModelService, make_handler, make_server

NAME = "tiny"
PREDICT = f"/v1/models/{NAME}:predict"
LONG = 3600.0  # a request timeout that never fires during a test
SHORT = 0.5  # real seconds a silent client is left once the fake clock is moved near its deadline
GUARD = 30.0  # how long a test waits for what a working server does at once (a hang bound, not a speed)
SAMPLE = {"prompt": tf.string, "max_tokens": tf.int32, "temperature": tf.float32, "top_k": tf.int32,
          "top_p": tf.float32, "seed": tf.int32}  # the language model's `generate` inputs
SETTINGS = {"prompt": "the", "max_tokens": 3, "temperature": 0.7, "top_k": 0, "top_p": 1.0, "seed": 0}
PAGE = Page(b"<!doctype html><title>try</title>", (("Content-Type", "text/html; charset=utf-8"),
                                                   ("Content-Security-Policy", "default-src 'none'")))


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def lengths(self, text):
            return {"length": tf.strings.length(text)}

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def double(self, x):
            return {"doubled": 2.0 * x}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def log(self, x):
            return {"log": tf.math.log(x)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def positive(self, x):
            with tf.control_dependencies([tf.debugging.assert_positive(x, message="secret /internal/path")]):
                return {"x": tf.identity(x)}

        @tf.function(input_signature=[tf.TensorSpec([None], dtype, name=n) for n, dtype in SAMPLE.items()])
        def sample(self, prompt, max_tokens, temperature, top_k, top_p, seed):
            return {"max_tokens": max_tokens}

    module = Tiny()
    path = tmp_path_factory.mktemp("tiny") / "export"
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.lengths, "double": module.double, "log": module.log,
        "positive": module.positive, "sample": module.sample})
    return path


@pytest.fixture(scope="module")
def service(export_dir):
    return SavedModelService(export_dir, NAME, max_batch=8)


def serve(httpd) -> threading.Thread:
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def start(service):
    """start(**limits) -> port of a server on 127.0.0.1 running in a thread (shut down after the test).

    The request timeout is ``LONG`` unless given: only the tests of the timeout depend on it firing.
    """
    servers = []

    def _start(max_body=32 << 20, timeout=LONG, max_connections=64, svc=None, page=None):
        httpd = ModelHTTPServer(("127.0.0.1", 0), make_handler(svc or service, max_body, timeout, page),
                                max_connections)
        serve(httpd)
        servers.append(httpd)
        return httpd.server_port

    yield _start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def request(port, method, path, payload=None, raw=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD)
    body = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
    conn.request(method, path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    result = response.status, json.loads(response.read()), response
    if own:
        conn.close()
    return result


def read_to_eof(sock) -> bytes:
    """Everything the server sends until it closes; fails if it keeps waiting on the client instead."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server neither answered nor closed within {GUARD:g}s: it is waiting on the client "
                    f"(got {received[:200]!r})")
    return received


def raw_exchange(port, data: bytes) -> bytes:
    """Send bytes on a fresh socket, send nothing more and keep it open; return what the server sent until it
    closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as sock:
        sock.sendall(data)
        return read_to_eof(sock)


def eventually(condition, what: str):
    """Wait until another thread makes ``condition()`` hold; fail naming ``what`` if it never does."""
    deadline = time.monotonic() + GUARD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.01)


class FakeClock:
    """Stands in for the ``time`` module inside common.serving: ``monotonic()`` is ``now``, which only the
    test moves. ``readers`` are the threads other than ``ignored`` (the accept loop, whose housekeeping
    reads it too) that have read it: connection handlers, each of which reads it first to set its request's
    deadline."""

    def __init__(self):
        self.now = 0.0
        self.ignored = None
        self.readers = []
        self._changed = threading.Condition()

    def monotonic(self):
        with self._changed:
            thread = threading.current_thread()
            if thread is not self.ignored and thread not in self.readers:
                self.readers.append(thread)
                self._changed.notify_all()
            return self.now

    def wait_for_handlers(self, n: int):
        """Until ``n`` connection handlers have set their deadlines (at the current ``now``)."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.readers) >= n, GUARD), \
                f"{len(self.readers)} of {n} handlers read the clock"

    def __getattr__(self, name):  # anything else common.serving takes from ``time`` stays real
        return getattr(time, name)


@pytest.fixture
def clocked(service, monkeypatch):
    """A server (timeout ``LONG``) on a ``FakeClock``: .clock, .port, .accepted (the server's side of each
    connection), .headers_in (set once a POST's headers are parsed, before its body is read)."""
    clock = FakeClock()
    monkeypatch.setattr(serving, "time", clock)
    accepted, headers_in = [], threading.Event()

    class Handler(make_handler(service, timeout=LONG)):
        def do_POST(self):  # noqa: N802 (http.server naming)
            headers_in.set()
            super().do_POST()

    class Recording(ModelHTTPServer):
        def process_request(self, request, client_address):
            accepted.append(request)
            super().process_request(request, client_address)

    httpd = Recording(("127.0.0.1", 0), Handler)
    clock.ignored = serve(httpd)
    yield SimpleNamespace(clock=clock, port=httpd.server_port, accepted=accepted, headers_in=headers_in)
    httpd.shutdown()
    httpd.server_close()


def status_and_error(reply: bytes):
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


def test_tensorflow_serving_protocol_on_a_keep_alive_connection(start):
    port = start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    status, body, _ = request(port, "POST", PREDICT, {"instances": ["ab", "hello"]}, conn=conn)
    sock = conn.sock
    assert status == 200 and body == {"predictions": [2, 5]}
    status, body, _ = request(port, "POST", PREDICT, {"signature_name": "double", "inputs": [[1, 2.5]]}, conn=conn)
    assert status == 200 and body == {"outputs": [[2.0, 5.0]]}
    status, body, response = request(port, "GET", f"/v1/models/{NAME}", conn=conn)
    assert body["model_version_status"][0]["state"] == "AVAILABLE" and response.version == 11
    status, body, _ = request(port, "GET", f"/v1/models/{NAME}/metadata", conn=conn)
    assert body["metadata"]["signature_def"]["double"]["inputs"]["x"] == {"dtype": "float32", "shape": [-1, 2]}
    assert conn.sock is sock  # all four on one connection
    status, body, _ = request(port, "POST", PREDICT, {"instances": [1] * 9}, conn=conn)
    assert status == 400 and "batch of 9 is over this server's limit of 8" in body["error"]
    assert request(port, "POST", PREDICT, {"instances": ["x"]}, conn=conn)[:2] == (200, {"predictions": [1]})
    assert conn.sock is sock  # a 400 after the body was read keeps the connection
    conn.close()


def test_default_bind_address_is_loopback(export_dir):
    httpd = make_server(export_dir, NAME, port=0)
    try:
        assert httpd.server_address[0] == "127.0.0.1"
    finally:
        httpd.server_close()


def test_stopping_does_not_wait_for_idle_keep_alive_clients(service):
    httpd = ModelHTTPServer(("127.0.0.1", 0), make_handler(service, timeout=LONG))
    serve(httpd)
    conn = http.client.HTTPConnection("127.0.0.1", httpd.server_port, timeout=GUARD)
    assert request(httpd.server_port, "POST", PREDICT, {"instances": ["a"]}, conn=conn)[0] == 200
    # the connection is now idle: its handler thread waits on it and only the client closing would end it
    stopper = threading.Thread(target=lambda: (httpd.shutdown(), httpd.server_close()), daemon=True)
    stopper.start()
    stopper.join(GUARD)
    stopped_while_the_client_was_connected = not stopper.is_alive()
    conn.close()  # lets a stop that waits for handler threads end too
    stopper.join(GUARD)
    assert stopped_while_the_client_was_connected, "stopping the server waited for an idle keep-alive client"


def test_concurrent_requests_get_their_own_answers(start):
    port = start()
    failures = []

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD)
        for j in range(8):
            texts = ["x" * (i + j), "y" * i]
            status, body, _ = request(port, "POST", PREDICT, {"instances": texts}, conn=conn)
            if (status, body) != (200, {"predictions": [i + j, i]}):
                failures.append((i, j, status, body))
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


@pytest.mark.parametrize("length, status, message", [
    ("-1", 400, "non-negative integer"),            # was: body read to EOF, 37.7 MB got 200
    ("abc", 400, "non-negative integer, got 'abc'"),  # was: 500 echoing ValueError
    ("12, 13", 400, "non-negative integer"),
    (None, 411, "Content-Length header is required"),
    ("2000", 413, "over the 1000-byte limit"),
])
def test_bad_content_lengths_are_refused_without_reading_the_body(start, length, status, message):
    port = start(max_body=1000)  # its timeout never fires: a server that read the body would wait for it
    header = "" if length is None else f"Content-Length: {length}\r\n"
    # the body never ends (20 bytes, then nothing, the socket open): only the headers can give the answer
    reply = raw_exchange(port, f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\n{header}\r\n".encode()
                         + b'{"instances": ["a"]}')
    got_status, error = status_and_error(reply)
    assert got_status == status and message in error
    assert b"Connection: close" in reply


def test_a_short_body_times_out_with_408_instead_of_hanging(clocked):
    with socket.create_connection(("127.0.0.1", clocked.port), timeout=GUARD) as sock:
        sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                     '{"instances"'.encode())
        assert clocked.headers_in.wait(GUARD)  # the server now waits for the rest of the body
        clocked.clock.now = LONG - SHORT
        sock.sendall(b":")  # the last byte the client sends: from here only a real timer can end the wait
        reply = read_to_eof(sock)
    status, error = status_and_error(reply)
    assert status == 408 and f"did not arrive within {LONG:g}s" in error and b"Connection: close" in reply
    assert request(clocked.port, "POST", PREDICT, {"instances": ["abc"]})[:2] == (200, {"predictions": [3]})


def test_half_sent_requests_are_closed_when_their_time_runs_out_and_free_their_threads(clocked):
    baseline = threading.active_count()
    socks = [socket.create_connection(("127.0.0.1", clocked.port), timeout=GUARD) for _ in range(20)]
    for sock in socks:
        sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Le".encode())
    clocked.clock.wait_for_handlers(20)  # every deadline is set: now (0) + LONG
    clocked.clock.now = LONG - SHORT
    for sock in socks:
        sock.sendall(b"n")  # the last byte each client sends: from here only a real timer can end the wait
    for sock in socks:
        assert read_to_eof(sock) == b""  # closed by the server, without an answer (the headers never ended)
        sock.close()
    eventually(lambda: threading.active_count() <= baseline, "the closed connections' handler threads ended")
    assert request(clocked.port, "POST", PREDICT, {"instances": ["abc"]})[:2] == (200, {"predictions": [3]})


def test_a_trickled_request_is_cut_at_its_deadline_however_steadily_its_bytes_arrive(clocked):
    """One deadline for the whole request, not a timeout per recv: a byte every 600 (fake) seconds keeps any
    per-recv timeout from firing, yet the request is cut once the clock passes ``LONG``; until then every recv
    waits only for what is left of the request's time."""
    with socket.create_connection(("127.0.0.1", clocked.port), timeout=GUARD) as sock:
        sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode())
        clocked.clock.wait_for_handlers(1)  # its deadline is set: now (0) + LONG
        (connection,) = clocked.accepted
        for now in (600.0, 1200.0, 1800.0, 2400.0, 3000.0):
            clocked.clock.now = now
            sock.sendall(b" ")
            eventually(lambda now=now: connection.gettimeout() == LONG - now,
                       f"at {now:g}s the server's next recv waits only the {LONG - now:g}s left")
        clocked.clock.now = LONG + 1
        sock.sendall(b" ")  # in time for any per-recv timeout, but past the request's deadline
        reply = read_to_eof(sock)
    status, error = status_and_error(reply)
    assert status == 408 and f"did not arrive within {LONG:g}s" in error, reply


def test_connections_over_the_cap_get_a_503_without_waiting_for_a_slot(start):
    port = start(max_connections=2)  # its timeout never fires: the held connections keep their slots
    held = [http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD) for _ in range(2)]
    try:
        for conn in held:  # keep-alive connections, each holding a slot
            assert request(port, "POST", PREDICT, {"instances": ["a"]}, conn=conn)[0] == 200
        with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as extra:
            reply = read_to_eof(extra)  # answered and closed while both slots are still held
    finally:
        for conn in held:
            conn.close()
    status, error = status_and_error(reply)
    assert status == 503 and "server busy" in error and b"Retry-After: 1" in reply

    def answered():  # the slots come back once the server sees the closes
        try:
            return request(port, "POST", PREDICT, {"instances": ["ab"]})[0] == 200
        except (ConnectionError, http.client.HTTPException):
            return False

    eventually(answered, "a request was answered after the held connections closed")


@pytest.mark.parametrize("raw, message", [
    (json.dumps({"signature_name": ["serving_default"], "instances": ["a"]}), "'signature_name' must be a string"),
    ("[" * 100_000 + "]" * 100_000, "nests JSON too deeply"),
    ('{"instances": [' + "1" * 5000 + "]}", "not valid JSON"),
    ("{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    ("", "must be a JSON object"),
    ("[1, 2]", "must be a JSON object"),
    ('{"instancez": [1]}', "exactly one of 'instances'"),
    ('{"instances": []}', "non-empty list"),
    ('{"instances": ["a", 1]}', "must hold strings"),
    ('{"instances": [{"text": "a"}, {"txt": "b"}]}', "expected input(s) text"),
    ('{"instances": [null]}', "input 'text'"),
    ('{"instances": [["a", ["b"]]]}', "input 'text'"),
    ('{"inputs": {"x": [1]}}', "expected input(s) text, got x"),
    ('{"signature_name": "nope", "inputs": ["a"]}', "unknown signature_name 'nope'"),
    ('{"signature_name": "double", "instances": [[1, 2], [3]]}', "input 'x'"),
    ('{"signature_name": "double", "instances": [[1, 2, 3]]}', "input 'x' has shape [1, 3]"),
    ('{"signature_name": "double", "instances": [[1e999, {"a": 1}]]}', "input 'x'"),
    ('{"signature_name": "double", "instances": [[' + "9" * 400 + ", 1]]}", "input 'x'"),
    ('{"signature_name": "double", "inputs": {"x": "text"}}', "input 'x'"),
    ('{"signature_name": "double", "instances": ' + "[" * 500 + "1" + "]" * 500 + "}", "input 'x'"),
])
def test_client_mistakes_get_400_with_a_clear_message(start, raw, message):
    port = start()
    data = raw if isinstance(raw, bytes) else raw.encode()
    status, body, _ = request(port, "POST", PREDICT, raw=data)
    assert status == 400 and message in body["error"], body
    assert "Traceback" not in body["error"] and "Error:" not in body["error"]


def test_unknown_paths_and_methods_get_json_errors(start):
    port = start()
    assert request(port, "POST", "/v1/models/other:predict", {"instances": ["a"]})[0] == 404
    assert request(port, "GET", "/v1/models/other")[0] == 404
    reply = raw_exchange(port, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_and_error(reply)[0] == 405
    reply = raw_exchange(port, b"GARBAGE\r\n\r\n")
    assert status_and_error(reply)[0] == 400


def test_an_internal_error_is_a_generic_500_and_the_traceback_goes_to_the_log(start, export_dir, caplog):
    broken = SavedModelService(export_dir, NAME)

    def predict(body, connection=None):
        raise RuntimeError("secret detail /internal/path")

    broken.predict = predict
    port = start(svc=broken)
    with caplog.at_level(logging.ERROR, logger="rnnsuite.serving"):
        status, body, _ = request(port, "POST", PREDICT, {"instances": ["a"]})
    assert status == 500 and "secret" not in body["error"] and "RuntimeError" not in body["error"]
    incident = body["error"].split("incident ")[1].split(";")[0]
    (record,) = [r for r in caplog.records if incident in r.getMessage()]
    assert record.exc_info and "secret detail" in str(record.exc_info[1])


def test_a_wrong_input_name_is_reported_with_every_key_given_or_none(service):
    with pytest.raises(serving.RequestError, match=r"^expected input\(s\) text, got none$"):
        service.predict({"instances": [{}]})
    with pytest.raises(serving.RequestError, match=r"^expected input\(s\) text, got a, b$"):
        service.predict({"inputs": {"a": ["x"], "b": ["y"]}})


@pytest.mark.parametrize("length, shown", [(200, "s" * 200), (201, "s" * 200 + "...")])
def test_a_long_value_in_an_error_is_cut_after_200_characters(service, length, shown):
    with pytest.raises(serving.RequestError) as info:
        service.predict({"signature_name": "s" * length, "instances": ["a"]})
    assert str(info.value).startswith(f"unknown signature_name '{shown}';")


def test_make_server_hands_its_name_and_limits_to_the_service_and_the_handler(export_dir):
    httpd = make_server(export_dir, NAME, port=0, max_batch=2, max_body=160, max_connections=3, timeout=LONG,
                        max_text=3, max_tokens=4, page=PAGE)
    serve(httpd)
    try:
        assert httpd.max_connections == 3
        port = httpd.server_port
        assert request(port, "POST", PREDICT, {"instances": ["ab"]})[:2] == (200, {"predictions": [2]})
        status, body, _ = request(port, "POST", PREDICT, {"instances": ["a", "b", "c"]})
        assert status == 400 and "limit of 2" in body["error"]
        status, body, _ = request(port, "POST", PREDICT, {"instances": ["a" * 200]})
        assert status == 413 and "over the 160-byte limit" in body["error"]
        status, body, _ = request(port, "POST", PREDICT, {"instances": ["abcd"]})
        assert status == 400 and "more than 3 characters" in body["error"]
        status, body, _ = request(port, "POST", PREDICT, {"signature_name": "sample",
                                                          "inputs": {**{k: [v] for k, v in SETTINGS.items()},
                                                                     "max_tokens": [5]}})
        assert status == 400 and "from 1 to 4 (" in body["error"]
        assert page_reply(port, "GET")[0] == 200
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"])
@pytest.mark.parametrize("path, allowed", [(PREDICT, "POST"), (f"/v1/models/{NAME}/metadata", "GET, HEAD"),
                                           ("/elsewhere", "GET, HEAD, POST")])
def test_a_method_the_path_does_not_take_gets_405_naming_the_allowed_ones(start, method, path, allowed):
    """405 (the path exists but not for this method) with ``Allow``, not 501 (a server that knows no such
    method); the body is not read, so the connection closes."""
    status, body, response = request(start(), method, path, {"instances": ["a"]})
    assert status == 405 and response.getheader("Allow") == allowed
    assert body["error"] == f"method {method} is not allowed on {path}; use {allowed}"
    assert response.getheader("Connection") == "close"


@pytest.mark.parametrize("method, path, allowed", [("GET", PREDICT, "POST"),
                                                   ("POST", f"/v1/models/{NAME}/metadata", "GET, HEAD"),
                                                   ("POST", f"/v1/models/{NAME}/versions/1", "GET, HEAD")])
def test_get_and_post_on_a_path_that_takes_the_other_get_405(start, method, path, allowed):
    status, _, response = request(start(), method, path, {"instances": ["a"]} if method == "POST" else None)
    assert (status, response.getheader("Allow")) == (405, allowed)


def test_head_answers_what_get_would_without_the_body(start):
    port = start()
    reply = raw_exchange(port, f"HEAD /v1/models/{NAME}/metadata HTTP/1.1\r\nHost: x\r\n"
                               "Connection: close\r\n\r\n".encode())
    head, _, body = reply.partition(b"\r\n\r\n")
    _, metadata, _ = request(port, "GET", f"/v1/models/{NAME}/metadata")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b""
    assert f"Content-Length: {len(json.dumps(metadata).encode())}".encode() in head


def strict_json(data: bytes):
    """What a standard JSON parser (not Python's lenient one) reads: bare NaN / Infinity is an error."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(data, parse_constant=refuse)


@pytest.mark.parametrize("value, message", [
    ("NaN", "input 'x' holds NaN or an infinity"),
    ("Infinity", "input 'x' holds NaN or an infinity"),
    ("-Infinity", "input 'x' holds NaN or an infinity"),
    ("1e999", "input 'x' holds NaN or an infinity"),  # Python's json reads it as inf
    ("1e39", "input 'x' holds a number outside the float32 range"),  # finite in float64, inf in float32
    ("-4e38", "input 'x' holds a number outside the float32 range"),
])
def test_non_finite_and_out_of_range_numbers_get_400_naming_the_input(start, value, message):
    status, body, _ = request(start(), "POST", PREDICT,
                              raw=f'{{"signature_name": "double", "instances": [[1.0, {value}]]}}'.encode())
    assert status == 400 and body["error"].startswith(message), body


@pytest.mark.parametrize("signature, value, message", [
    ("double", '"1.5"', "input 'x' must be float32 values of shape [None, 2], got strings"),
    ("double", "true", "input 'x' must be float32 values of shape [None, 2], got true/false"),
    ("sample", {"max_tokens": 2.5}, "input 'max_tokens' must be int32 values of shape [None], got numbers "
                                    "with a fraction"),
    ("sample", {"max_tokens": "3"}, "input 'max_tokens' must be int32 values of shape [None], got strings"),
    ("sample", {"seed": True}, "input 'seed' must be int32 values of shape [None], got true/false"),
    ("sample", {"seed": 2 ** 31}, "input 'seed' holds a number outside the int32 range (-2147483648 to "
                                  "2147483647)"),
    ("sample", {"seed": 10 ** 30}, "input 'seed' must be int32 values of shape [None], got nulls, objects or "
                                   "numbers too large"),
])
def test_values_are_taken_as_sent_never_coerced(service, signature, value, message):
    """A string, a boolean or a fraction is not turned into a number (``"3"`` -> 3, ``2.5`` -> 2)."""
    instance = {**SETTINGS, **value} if signature == "sample" else [1.0, json.loads(value)]
    with pytest.raises(serving.RequestError) as info:
        service.predict({"signature_name": signature, "instances": [instance]})
    assert str(info.value) == message


@pytest.mark.parametrize("setting, value, rule", [
    ("max_tokens", 0, "from 1 to 512 (this server's cap on generated tokens per prompt)"),
    ("max_tokens", 513, "from 1 to 512 (this server's cap on generated tokens per prompt)"),
    ("temperature", -0.5, "0 (greedy) or more"),
    ("top_k", -1, "0 (no limit) or more"),
    ("top_p", 0.0, "above 0 and at most 1 (1: no limit)"),
    ("top_p", 1.5, "above 0 and at most 1 (1: no limit)"),
    ("seed", -7, "0 or more"),
])
def test_generation_settings_out_of_range_get_400_naming_the_setting(start, setting, value, rule):
    rows = [SETTINGS, {**SETTINGS, setting: value}]
    status, body, _ = request(start(), "POST", PREDICT, {"signature_name": "sample", "instances": rows})
    assert (status, body["error"]) == (400, f"input '{setting}' must be {rule}, got {value:g}")


def test_generation_settings_at_their_limits_are_served(service):
    edges = {**SETTINGS, "max_tokens": 512, "temperature": 0.0, "top_k": 0, "top_p": 1.0, "seed": 0}
    assert service.predict({"signature_name": "sample", "instances": [edges]}) == {"predictions": [512]}


def test_the_token_cap_is_the_servers_setting(export_dir):
    capped = SavedModelService(export_dir, NAME, max_tokens=4)
    assert capped.predict({"signature_name": "sample", "instances": [{**SETTINGS, "max_tokens": 4}]}) == {
        "predictions": [4]}
    with pytest.raises(serving.RequestError, match=r"^input 'max_tokens' must be from 1 to 4 \("):
        capped.predict({"signature_name": "sample", "instances": [{**SETTINGS, "max_tokens": 5}]})


def test_a_string_over_the_length_limit_gets_400(export_dir):
    short = SavedModelService(export_dir, NAME, max_text=5)
    assert short.predict({"instances": ["abcde"]}) == {"predictions": [5]}
    with pytest.raises(serving.RequestError) as info:
        short.predict({"instances": ["abcde", "abcdef"]})
    assert str(info.value) == ("input 'text' holds a string of more than 5 characters, this server's limit; "
                               "shorten or split it")


def test_a_string_that_is_not_unicode_gets_400(start):
    status, body, _ = request(start(), "POST", PREDICT, raw=b'{"instances": ["ok", "\\ud800"]}')
    assert status == 400 and body["error"].startswith("input 'text' holds a string that is not valid Unicode")


@pytest.mark.parametrize("inputs, message", [
    ({"prompt": ["a", "b"], "max_tokens": [3], "temperature": [1, 1], "top_k": [0, 0], "top_p": [1, 1],
      "seed": [0, 0]}, "the inputs have different batch sizes (prompt 2, max_tokens 1, temperature 2, "
                       "top_k 2, top_p 2, seed 2); give every input one value per row"),
    ({k: [] for k in SAMPLE}, "the inputs hold no rows; send at least one"),
])
def test_columns_of_different_or_no_rows_get_400(service, inputs, message):
    """A signature would broadcast a one-row column over the others (or fail on none): neither was asked."""
    with pytest.raises(serving.RequestError) as info:
        service.predict({"signature_name": "sample", "inputs": inputs})
    assert str(info.value) == message


def test_a_non_finite_output_is_a_500_in_strict_json(start, caplog):
    port = start()
    assert request(port, "POST", PREDICT, {"signature_name": "log", "instances": [1.0]})[:2] == (
        200, {"predictions": [0.0]})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD)
    with caplog.at_level(logging.ERROR, logger="rnnsuite.serving"):
        conn.request("POST", PREDICT, json.dumps({"signature_name": "log", "instances": [1.0, 0.0]}))
        response = conn.getresponse()
        error = strict_json(response.read())["error"]
    conn.close()
    assert response.status == 500
    assert error.startswith("the model's output 'log' for this input is not a finite number (NaN or inf")
    assert any("signature log output log is NaN or infinite" in r.getMessage() for r in caplog.records)


def test_a_graph_that_rejects_an_input_gets_400_without_tensorflows_text(start, caplog):
    port = start()
    with caplog.at_level(logging.WARNING, logger="rnnsuite.serving"):
        status, body, _ = request(port, "POST", PREDICT, {"signature_name": "positive", "instances": [1, -1]})
    assert status == 400 and body["error"] == ("the model rejected the input of signature 'positive'; check "
                                               f"each value against GET /v1/models/{NAME}/metadata")
    assert any("secret /internal/path" in r.getMessage() for r in caplog.records)  # the log has the detail


@pytest.mark.parametrize("limits, message", [
    ({"port": 65536}, "serve --port must be a whole number from 0 to 65535, got 65536"),
    ({"port": -1}, "serve --port must be a whole number from 0 to 65535, got -1"),
    ({"max_batch": 0}, "serve --max-batch must be a whole number from 1 to 100000, got 0"),
    ({"max_batch": 100_001}, "serve --max-batch must be a whole number from 1 to 100000, got 100001"),
    ({"max_connections": -2}, "serve --max-connections must be a whole number from 1 to 10000, got -2"),
    ({"max_connections": 10_001}, "serve --max-connections must be a whole number from 1 to 10000, got "
                                  "10001"),
    ({"max_body": 0}, "serve --max-body must be a whole number from 1 to 1073741824, got 0"),
    ({"max_body": 2**30 + 1}, "serve --max-body must be a whole number from 1 to 1073741824, got 1073741825"),
    ({"max_tokens": 0}, "serve --max-tokens must be a whole number from 1 to 100000, got 0"),
    ({"max_tokens": 100_001}, "serve --max-tokens must be a whole number from 1 to 100000, got 100001"),
    ({"max_text": True}, "serve --max-text must be a whole number from 1 to 10000000, got True"),
    ({"max_text": 10**7 + 1}, "serve --max-text must be a whole number from 1 to 10000000, got 10000001"),
    ({"timeout": 0}, "serve --timeout must be a number of seconds above 0 and at most 86400, got 0"),
    ({"timeout": -1.0}, "serve --timeout must be a number of seconds above 0 and at most 86400, got -1.0"),
    ({"timeout": float("nan")}, "serve --timeout must be a number of seconds above 0 and at most 86400, got "
                                "nan"),
    ({"timeout": float("inf")}, "serve --timeout must be a number of seconds above 0 and at most 86400, got "
                                "inf"),
    ({"name": "a/b"}, "serve --model-name 'a/b' cannot be used in the URL /v1/models/<name>"),
    ({"name": ""}, "serve --model-name '' cannot be used in the URL /v1/models/<name>"),
    ({"host": ""}, "serve --host '' is not an address"),
])
def test_bad_serve_limits_are_refused_before_the_export_is_loaded(tmp_path, limits, message):
    """The export does not exist: a limit checked after loading would fail on the export instead."""
    arguments = {"export_dir": tmp_path / "none", "name": NAME, **limits}
    with pytest.raises(UserError) as info:
        make_server(**arguments)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_each_serve_limit_accepts_its_bounds():
    """The bounds themselves are allowed: a ceiling one below the documented one would refuse a valid flag."""
    from common.serving import MAX_BATCH, MAX_BODY, MAX_CONNECTIONS, MAX_TEXT, MAX_TOKENS, check_limits

    assert (MAX_BATCH, MAX_CONNECTIONS, MAX_BODY, MAX_TOKENS, MAX_TEXT) == (100_000, 10_000, 1 << 30, 100_000,
                                                                           10_000_000)
    for value in (1, None):
        limits = [value or bound for bound in (MAX_BATCH, MAX_CONNECTIONS, MAX_BODY, MAX_TOKENS, MAX_TEXT)]
        batch, connections, body, tokens, text = limits
        check_limits(NAME, "127.0.0.1", 0, batch, connections, 5.0, body, tokens, text)  # no error


def test_an_address_that_cannot_be_bound_is_one_line_naming_it(export_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=rf"^serve cannot listen on 127.0.0.1:{port} \(Address already in "
                                            r"use\); choose another --port or --host$"):
            make_server(export_dir, NAME, port=port)


def test_an_export_that_does_not_load_is_one_line_naming_it(tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(UserError) as info:
        make_server(tmp_path / "export", NAME, port=0)
    assert str(info.value).startswith(f"{tmp_path / 'export'} does not load as a SavedModel (")
    assert str(info.value).endswith("export the run again with the `export` command")


def test_the_serve_command_refuses_a_bad_flag_in_one_line(export_dir, tmp_path, capsys):
    from common.cli import main
    from tasks.sentiment import TASK

    run = tmp_path / "run"
    run.mkdir()
    (run / "export").symlink_to(export_dir)
    with pytest.raises(SystemExit) as exit_info:
        main(TASK, ["serve", "--run-dir", str(run), "--port", "70000"])
    assert exit_info.value.code == 2
    expected = "error: serve --port must be a whole number from 0 to 65535, got 70000\n"
    assert capsys.readouterr().err == expected


def page_reply(port, method, path="/"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD)
    conn.request(method, path)
    response = conn.getresponse()
    result = response.status, response.read(), response
    conn.close()
    return result


def test_get_and_head_of_the_root_answer_the_page_with_its_own_headers(start):
    port = start(page=PAGE)
    status, body, response = page_reply(port, "GET")
    assert (status, body) == (200, PAGE.html)
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert response.getheader("Content-Security-Policy") == "default-src 'none'"
    assert response.getheader("Content-Length") == str(len(PAGE.html))
    status, body, response = page_reply(port, "HEAD")
    assert (status, body, response.getheader("Content-Length")) == (200, b"", str(len(PAGE.html)))
    # the model's routes are unchanged beside it
    assert request(port, "POST", PREDICT, {"instances": ["ab"]})[:2] == (200, {"predictions": [2]})


@pytest.mark.parametrize("path", ["/index.html", "/?x=1", "/page.js", "/../export/saved_model.pb",
                                  "/common/page/index.html"])
def test_the_page_is_the_root_alone_and_no_other_path_reads_a_file(start, path):
    status, body, _ = page_reply(start(page=PAGE), "GET", path)
    assert status == 404 and json.loads(body)["error"].startswith("unknown path ")


def test_post_to_the_page_gets_405_allowing_get_and_head(start):
    status, body, response = request(start(page=PAGE), "POST", "/", {"instances": ["a"]})
    assert (status, response.getheader("Allow")) == (405, "GET, HEAD")
    assert body["error"] == "method POST is not allowed on /; use GET, HEAD"


def test_without_a_page_the_root_is_an_unknown_path(start):
    """`make_server` without ``page`` (a bare SavedModel): GET / is a 404 as before the page existed."""
    status, body, response = request(start(), "GET", "/")
    assert status == 404 and body["error"] == f"unknown path /; this server has /v1/models/{NAME}"
    assert response.getheader("Content-Type") == "application/json"


# A client that leaves stops its work; a body of much text runs in chunks (issue #34, resource limits).

def test_a_socket_whose_peer_closed_is_gone_and_one_open_or_with_data_waiting_is_not():
    ours, theirs = socket.socketpair()
    with ours:
        assert not serving._client_gone(ours)
        theirs.sendall(b"GET / HTTP/1.1\r\n")  # a pipelined request: data, not a close
        assert not serving._client_gone(ours)
        theirs.close()
        ours.recv(100)
        assert serving._client_gone(ours)


def test_a_request_whose_client_left_before_its_call_is_not_run(service, monkeypatch):
    calls = []
    def counted(**tensors):
        calls.append(tensors)
        return {"length": tf.constant([1])}

    monkeypatch.setattr(service, "signatures", {**service.signatures, "serving_default": counted})
    ours, theirs = socket.socketpair()
    theirs.close()
    with ours, pytest.raises(serving.ClientGone):
        service.predict({"instances": ["a"]}, ours)
    assert calls == []


@pytest.fixture(scope="module")
def spin_service(tmp_path_factory):
    """A service whose ``serving_default`` counts to its input (about 30 s for 3e6 on a CPU: far longer than a
    test waits, yet finite should cancelling fail)."""
    class Spin(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="n")])
        def spin(self, n):
            (i,) = tf.while_loop(lambda i: i < n[0], lambda i: (i + 1,), (tf.constant(0, tf.int64),))
            return {"i": tf.fill(tf.shape(n), i)}

    module = Spin()
    path = tmp_path_factory.mktemp("spin") / "export"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.spin})
    return SavedModelService(path, NAME)


def test_a_running_call_is_cancelled_when_its_client_disconnects(spin_service):
    assert spin_service.predict({"instances": [10]}, None) == {"predictions": [10]}
    ours, theirs = socket.socketpair()
    leave = threading.Timer(0.3, theirs.close)
    leave.start()
    with ours, pytest.raises(serving.ClientGone):
        spin_service.predict({"instances": [3_000_000]}, ours)
    leave.join()


def test_rows_are_cut_into_runs_of_at_most_the_limit_and_a_larger_row_runs_alone():
    assert serving._chunk_bounds([3, 4, 2, 1], 5) == [0, 1, 2, 4]
    assert serving._chunk_bounds([9, 1, 1], 5) == [0, 1, 3]
    assert serving._chunk_bounds([1, 1], 5) == [0, 2]


def test_characters_per_row_count_every_string_input_of_the_row(service):
    specs = service.specs["sample"]
    columns = {"prompt": ["ab", "cde"], "max_tokens": [1, 2], "temperature": [0.5, 0.5], "top_k": [0, 0],
               "top_p": [1.0, 1.0], "seed": [0, 0]}
    assert serving._row_chars(columns, specs, 2) == [2, 3]
    assert serving._row_chars({"text": "abcd"}, service.specs["serving_default"], 1) == [4]


def test_a_request_with_more_text_than_the_chunk_runs_in_chunks_with_the_same_answer(service, monkeypatch):
    batches = []
    real = serving._cancellable

    def spy(fn, tensors, connection):
        batches.append(len(tensors["text"]))
        return real(fn, tensors, connection)

    monkeypatch.setattr(serving, "_cancellable", spy)
    monkeypatch.setattr(serving, "CHUNK_CHARS", 5)
    assert service.predict({"instances": ["abc", "defg", "hi", "j"]}) == {"predictions": [3, 4, 2, 1]}
    assert batches == [1, 1, 2]


def test_memory_is_handed_back_after_a_large_body_and_not_after_a_small_one(start, monkeypatch):
    released = []
    monkeypatch.setattr(serving, "_release_memory", lambda: released.append(True))
    monkeypatch.setattr(serving, "RELEASE_BYTES", 100)
    port = start()
    assert request(port, "POST", PREDICT, {"instances": ["a"]})[0] == 200
    assert released == []
    assert request(port, "POST", PREDICT, {"instances": ["a" * 200]})[0] == 200
    assert released == [True]


def test_releasing_memory_calls_malloc_trim_where_the_c_library_has_it(monkeypatch):
    trimmed = []
    monkeypatch.setattr(serving, "_LIBC", SimpleNamespace(malloc_trim=lambda pad: trimmed.append(pad)))
    assert serving._release_memory() is True and trimmed == [0]
    monkeypatch.setattr(serving, "_LIBC", None)
    assert serving._release_memory() is False
