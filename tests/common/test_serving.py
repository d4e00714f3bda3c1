"""The REST server (common/serving.py) against a tiny SavedModel: protocol, limits, malformed HTTP.

The model is a tf.Module with two signatures (no training): ``serving_default`` maps a
string batch to its lengths, ``double`` doubles a float32 [batch, 2] input. Malformed
HTTP goes over raw sockets.

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
from common.serving import ModelHTTPServer, SavedModelService, make_handler, make_server

NAME = "tiny"
PREDICT = f"/v1/models/{NAME}:predict"
LONG = 3600.0  # a request timeout that never fires during a test
SHORT = 0.5  # real seconds a silent client is left once the fake clock is moved near its deadline
GUARD = 30.0  # how long a test waits for what a working server does at once (a hang bound, not a speed)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def lengths(self, text):
            return {"length": tf.strings.length(text)}

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def double(self, x):
            return {"doubled": 2.0 * x}

    module = Tiny()
    path = tmp_path_factory.mktemp("tiny") / "export"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.lengths, "double": module.double})
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

    def _start(max_body=32 << 20, timeout=LONG, max_connections=64, svc=None):
        httpd = ModelHTTPServer(("127.0.0.1", 0), make_handler(svc or service, max_body, timeout), max_connections)
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
    assert status_and_error(reply)[0] == 501
    reply = raw_exchange(port, b"GARBAGE\r\n\r\n")
    assert status_and_error(reply)[0] == 400


def test_an_internal_error_is_a_generic_500_and_the_traceback_goes_to_the_log(start, export_dir, caplog):
    broken = SavedModelService(export_dir, NAME)

    def predict(body):
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
    httpd = make_server(export_dir, NAME, port=0, max_batch=2, max_body=64, max_connections=3, timeout=LONG)
    serve(httpd)
    try:
        assert httpd.max_connections == 3
        port = httpd.server_port
        assert request(port, "POST", PREDICT, {"instances": ["ab"]})[:2] == (200, {"predictions": [2]})
        status, body, _ = request(port, "POST", PREDICT, {"instances": ["a", "b", "c"]})
        assert status == 400 and "limit of 2" in body["error"]
        status, body, _ = request(port, "POST", PREDICT, {"instances": ["a" * 100]})
        assert status == 413 and "over the 64-byte limit" in body["error"]
    finally:
        httpd.shutdown()
        httpd.server_close()
