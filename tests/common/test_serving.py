"""The REST server (common/serving.py) against a tiny SavedModel: protocol, limits, malformed HTTP.

The model is a tf.Module with two signatures (no training): ``serving_default`` maps a
string batch to its lengths, ``double`` doubles a float32 [batch, 2] input. Malformed
HTTP goes over raw sockets. Servers here use a 1 s request timeout so the slow-client
tests stay short.
"""
import http.client
import json
import logging
import socket
import threading
import time

import pytest
import tensorflow as tf

from common.serving import ModelHTTPServer, SavedModelService, make_handler, make_server

NAME = "tiny"
PREDICT = f"/v1/models/{NAME}:predict"


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


@pytest.fixture
def start(service):
    """start(**limits) -> port of a server on 127.0.0.1 running in a thread (shut down after the test)."""
    servers = []

    def _start(max_body=32 << 20, timeout=1.0, max_connections=64, svc=None):
        httpd = ModelHTTPServer(("127.0.0.1", 0), make_handler(svc or service, max_body, timeout), max_connections)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        return httpd.server_port

    yield _start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def request(port, method, path, payload=None, raw=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
    conn.request(method, path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    result = response.status, json.loads(response.read()), response
    if own:
        conn.close()
    return result


def raw_exchange(port, data: bytes, wait: float = 10.0):
    """Send bytes on a fresh socket; return (everything the server sent until it closed, seconds taken)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        began = time.monotonic()
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received, time.monotonic() - began


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
    httpd = ModelHTTPServer(("127.0.0.1", 0), make_handler(service, timeout=30.0))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", httpd.server_port, timeout=10)
    assert request(httpd.server_port, "POST", PREDICT, {"instances": ["a"]}, conn=conn)[0] == 200
    began = time.monotonic()
    httpd.shutdown()
    httpd.server_close()
    assert time.monotonic() - began < 2
    conn.close()


def test_concurrent_requests_get_their_own_answers(start):
    port = start()
    failures = []

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
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
    port = start(max_body=1000)
    header = "" if length is None else f"Content-Length: {length}\r\n"
    reply, seconds = raw_exchange(port, f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\n{header}\r\n".encode()
                                  + b'{"instances": ["a"]}' + b" " * 3000)
    got_status, error = status_and_error(reply)
    assert (got_status, seconds < 0.9) == (status, True) and message in error
    assert b"Connection: close" in reply


def test_a_short_body_times_out_with_408_instead_of_hanging(start):
    port = start(timeout=1.0)
    reply, seconds = raw_exchange(port, f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                                        '{"instances"'.encode())
    status, error = status_and_error(reply)
    assert status == 408 and "did not arrive within 1s" in error and 0.8 < seconds < 3


def test_half_sent_and_trickled_requests_are_closed_after_the_timeout(start):
    port = start(timeout=1.0)
    baseline = threading.active_count()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
    for sock in socks:
        sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Le".encode())
    trickle = socket.create_connection(("127.0.0.1", port), timeout=5)
    began = time.monotonic()
    closed_after = None
    for byte in f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nX-Slow: {'a' * 200}".encode():
        try:  # one byte every 0.1 s: a per-recv timeout alone would never fire
            trickle.sendall(bytes([byte]))
        except OSError:
            closed_after = time.monotonic() - began
            break
        time.sleep(0.1)
    assert closed_after is not None and closed_after < 3
    for sock in socks:  # each was closed by the server (EOF), well within the test's 5 s socket timeout
        assert sock.recv(100) == b""
        sock.close()
    trickle.close()
    deadline = time.monotonic() + 3
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= baseline  # no handler thread left behind
    assert request(port, "POST", PREDICT, {"instances": ["abc"]})[:2] == (200, {"predictions": [3]})


def test_connections_over_the_cap_get_a_quick_503(start):
    port = start(max_connections=2, timeout=5.0)
    held = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(2)]
    for conn in held:  # keep-alive connections, each holding a slot
        assert request(port, "POST", PREDICT, {"instances": ["a"]}, conn=conn)[0] == 200
    with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
        began = time.monotonic()
        reply = extra.recv(65536)
        assert time.monotonic() - began < 1.5
    status, error = status_and_error(reply)
    assert status == 503 and "server busy" in error and b"Retry-After: 1" in reply
    for conn in held:
        conn.close()
    deadline = time.monotonic() + 3
    while True:  # the slots come back once the server sees the closes
        try:
            status = request(port, "POST", PREDICT, {"instances": ["ab"]})[0]
        except (ConnectionError, http.client.HTTPException):
            status = None
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200


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
    reply, _ = raw_exchange(port, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_and_error(reply)[0] == 501
    reply, _ = raw_exchange(port, b"GARBAGE\r\n\r\n")
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
