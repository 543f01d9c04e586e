"""The OpenAI-compatible API adapter against a real HTTP server on 127.0.0.1.

Every failure gives one line naming the cause (the sentences are asserted whole: they are
the catalogue in docs/models.md), a batch keeps the answers that arrived, and neither the
key nor URL credentials reach an answer, a message, ``info`` or ``repr``.
"""

from __future__ import annotations

import base64
import json
import socket
import shutil
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_vlmbench.models.api import APIError, APIRequestsFailed, OpenAIChatModel, image_data_url
from pytest_vlmbench.models.api_response import NotACompletion, parse_completion, usage_tokens
from pytest_vlmbench.models.base import AdapterSettings, Answer, LoadOptions, Request, RequestsFailed
from pytest_vlmbench.models.zoo import make_spec
from pytest_vlmbench.record import Tokens, plain_json
from pytest_vlmbench.secrets import public_url

SECRET = "sk-test-SECRET-never-logged-123"
Behaviour = Callable[[int, dict[str, Any]], tuple[int, dict[str, str], bytes]]


def ok(text: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()


class Server:
    """A chat-completions endpoint whose answer to the n-th request is ``behaviour(n, body)``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour: Behaviour = lambda n, body: ok("yes")
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    n = len(server.bodies)
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, headers, payload = server.behaviour(n, body)
                finally:
                    # Counted out before the first byte of the answer goes back: once the client
                    # has it, its worker may send the next request before this thread runs again,
                    # and counting out after the write read that as one request too many in flight.
                    with server.lock:
                        server.in_flight -= 1
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:  # the handshake happens at accept; a client that refuses the certificate is dropped there
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.httpd.server_address[1]}/v1"
        # A short poll: shutdown() waits for it, once per test.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def make_model(
    server: Server | None, monkeypatch: pytest.MonkeyPatch, *, base: str | None = None, key: str | None = SECRET, **options: Any
) -> OpenAIChatModel:
    """The adapter for ``server`` (or ``base``), its key in ``$TEST_API_KEY`` (unset when ``key`` is None)."""
    if key is None:
        monkeypatch.delenv("TEST_API_KEY", raising=False)
    else:
        monkeypatch.setenv("TEST_API_KEY", key)
    spec = make_spec("api:test-model", "test-model", "openai-api", settings=AdapterSettings(api_backoff_s=0.01))
    settings: dict[str, Any] = {"api_timeout_s": 2.0, "api_max_retries": 3, **options}
    opts = LoadOptions(api_base=base or (server.url if server else None), api_key_env="TEST_API_KEY", **settings)
    return OpenAIChatModel("test-model", spec, opts)


def test_answers_in_order_with_key_header_and_image_as_data_url(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    server.behaviour = lambda n, body: ok(body["messages"][0]["content"][-1]["text"].upper())
    model = make_model(server, monkeypatch)
    image = Image.new("RGB", (8, 8), (255, 0, 0))
    answers = model.generate([Request("a", image), Request("b"), Request("c")])
    assert answers == [Answer("A"), Answer("B"), Answer("C")]  # no usage in the responses: no token counts
    assert all(h["Authorization"] == f"Bearer {SECRET}" for h in server.headers)
    first = next(b for b in server.bodies if b["messages"][0]["content"][-1]["text"] == "a")
    assert first["messages"][0]["content"][0]["image_url"]["url"] == image_data_url(image)
    assert first["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert first["model"] == "test-model" and first["temperature"] == 0
    # The record's model_info: the keys and order the dict-based info had.
    assert plain_json(model.info) == {"source": "test-model", "family": "openai-api", "api_base": server.url, "device": "api",
                                      "concurrency": 4}  # fmt: skip
    assert model.reads == {"text", "image"} and not model.several_images and not model.shares_prefix


@pytest.mark.parametrize(
    "failure",
    [
        (429, {"Retry-After": "0"}, b'{"error": "rate limited"}'),
        (500, {}, b"internal error"),
        (503, {}, b"overloaded"),
        (200, {}, b"this is not json"),
        (200, {}, b'{"choices": []}'),
        (200, {}, b'{"choices": [{"message": {"content": null}}]}'),
    ],
    ids=["429", "500", "503", "not-json", "no-choices", "null-content"],
)
def test_transient_failures_are_retried(server: Server, monkeypatch: pytest.MonkeyPatch, failure: tuple[int, dict[str, str], bytes]) -> None:
    server.behaviour = lambda n, body: failure if n < 2 else ok("no")
    model = make_model(server, monkeypatch)
    assert model.generate([Request("q")]) == [Answer("no")]
    assert model.retries == 2
    assert model.info.retries is None  # no running count in the record: an evaluation records its own difference


def test_retry_after_is_honoured(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.behaviour = lambda n, body: (429, {"Retry-After": "0.3"}, b"") if n == 0 else ok("yes")
    model = make_model(server, monkeypatch)  # its own backoff would wait about 0.01 s
    started = time.monotonic()
    assert model.generate([Request("q")]) == [Answer("yes")]
    assert time.monotonic() - started >= 0.3 and model.retries == 1


# -- usage: each answer carries its own tokens ---------------------------------------------------


def test_usage_becomes_tokens() -> None:
    usage = {"prompt_tokens": 300, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 256}}
    assert usage_tokens(usage) == Tokens(300, 256, 2)
    assert usage_tokens({"prompt_tokens": 10, "completion_tokens": 1}) == Tokens(10, 0, 1)
    assert usage_tokens({"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": None}) == Tokens(10, 0, 1)
    assert usage_tokens({"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 99}}) == Tokens(10, 10, 1)
    assert usage_tokens({"prompt_tokens": True, "completion_tokens": 1}) is None
    assert usage_tokens(None) is None and usage_tokens({"total_tokens": 5}) is None


def test_a_completion_is_read_with_its_usage() -> None:
    body = {"choices": [{"message": {"content": "sport"}}], "usage": {"prompt_tokens": 7, "completion_tokens": 1}}
    assert parse_completion(json.dumps(body).encode()) == Answer("sport", Tokens(7, 0, 1))
    assert parse_completion(b'{"choices": [{"message": {"content": "x"}}]}') == Answer("x", None)
    with pytest.raises(NotACompletion, match="no choices"):
        parse_completion(b'{"object": "list"}')


def test_each_answer_carries_its_own_usage(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = {"a": {"prompt_tokens": 5, "completion_tokens": 1}, "b": {"prompt_tokens": 6, "completion_tokens": 2,
             "prompt_tokens_details": {"cached_tokens": 4}}}  # fmt: skip

    def behaviour(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        text = body["messages"][0]["content"][-1]["text"]
        answer: dict[str, Any] = {"choices": [{"message": {"content": f" {text.upper()} "}}]}
        if text in usage:
            answer["usage"] = usage[text]
        return 200, {}, json.dumps(answer).encode()

    server.behaviour = behaviour
    model = make_model(server, monkeypatch)
    assert model.generate([Request("a"), Request("b"), Request("c")]) == [
        Answer("A", Tokens(5, 0, 1)), Answer("B", Tokens(6, 4, 2)), Answer("C", None),  # no usage: no count, not zero
    ]  # fmt: skip


def test_timeout_is_retried(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_first(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if n == 0:
            time.sleep(1.0)
        return ok("yes")

    server.behaviour = slow_first
    model = make_model(server, monkeypatch, api_timeout_s=0.3)
    assert model.generate([Request("q")]) == [Answer("yes")]
    assert model.retries == 1


def test_gives_up_after_max_retries_without_leaking_the_key(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.behaviour = lambda n, body: (500, {}, f"boom, your key was {SECRET}".encode())
    model = make_model(server, monkeypatch)
    with pytest.raises(APIError) as info:
        model.generate([Request("q")])
    assert isinstance(info.value, RequestsFailed) and info.value.answered == {}
    assert "after 4 attempts" in str(info.value)
    assert SECRET not in str(info.value) and "***" in str(info.value)
    assert len(server.bodies) == 4


def test_client_error_fails_at_once(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.behaviour = lambda n, body: (401, {}, b'{"error": "invalid api key"}')
    model = make_model(server, monkeypatch)
    with pytest.raises(APIError, match="HTTP 401"):
        model.generate([Request("q")])
    assert len(server.bodies) == 1


def test_concurrency_limit(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.05)
        return ok("yes")

    server.behaviour = slow
    model = make_model(server, monkeypatch, api_concurrency=2)
    assert model.generate([Request(str(i)) for i in range(8)]) == [Answer("yes")] * 8
    assert server.max_in_flight == 2


def test_missing_key_for_openai_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    spec = make_spec("gpt-4o", "gpt-4o", "openai-api")
    with pytest.raises(APIError, match="NO_SUCH_KEY_VAR"):
        OpenAIChatModel("gpt-4o", spec, LoadOptions(api_key_env="NO_SUCH_KEY_VAR"))


def test_evaluate_end_to_end_record_never_contains_the_key(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_vlmbench.datasets import load_dataset
    from pytest_vlmbench.evaluation.evaluate import EvalConfig, evaluate

    server.behaviour = lambda n, body: ok("three")
    model = make_model(server, monkeypatch)
    record = evaluate(model, load_dataset("digits"), "closed_set", EvalConfig(limit=4, batch_size=2))
    text = json.dumps(record.to_json())
    assert SECRET not in text and SECRET not in repr(model) and SECRET not in repr(record)
    assert record.model_info.api_base == server.url
    assert all(p.prediction == "three" for p in record.predictions)
    # Every answer is "three", so the accuracy is the share of items that are threes.
    assert record.n_items == 4 and record.metrics.accuracy == sum(p.label == "three" for p in record.predictions) / 4


def test_pytest_run_through_api_prefix(server: Server, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--model api:NAME --api-base URL`` runs a suite; the key is in neither the JSON nor the output."""
    monkeypatch.setenv("TEST_API_KEY", SECRET)
    server.behaviour = lambda n, body: ok("yes")
    pytester.makepyfile(
        test_suite="""
        def test_suite(vlmbench):
            assert vlmbench.run().n_items == 3
        """
    )
    result = pytester.runpytest(
        "--model", "api:served-model", "--api-base", server.url, "--api-key-env", "TEST_API_KEY",
        "--dataset", "digits", "--strategy", "binary", "--limit", "3", "--vlmbench-json", "out.json", "-p", "no:benchmark",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    assert SECRET not in (pytester.path / "out.json").read_text()
    assert SECRET not in result.stdout.str()
    assert server.bodies[0]["model"] == "served-model"


def test_credentials_in_the_base_url_stay_out_of_the_record() -> None:
    assert public_url("https://user:pw@example.com:8443/v1") == "https://example.com:8443/v1"
    assert public_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert public_url("user:pw@localhost:8000/v1") == "***@localhost:8000/v1"


# -- the failure catalogue: one line each, the cause and the fix, never a secret ---------------

PASSWORD = "pw-SECRET-in-the-url-456"


def failed(model: OpenAIChatModel, n: int = 1) -> APIRequestsFailed:
    with pytest.raises(APIRequestsFailed) as info:
        model.generate([Request(str(i)) for i in range(n)])
    return info.value


def assert_no_secret(model: OpenAIChatModel, *texts: object) -> None:
    for text in (*texts, repr(model), json.dumps(plain_json(model.info))):
        assert SECRET not in str(text) and PASSWORD not in str(text), text


def no_api_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("vlmbench-api")]


def error(code: int, message: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return code, headers, json.dumps({"error": {"message": message}}).encode()


FIX_SERVER = "the server is failing: check its logs, then rerun."
NOT_COMPLETION = "{url}/chat/completions answered 'test-model' with something that is not an OpenAI chat completion"
CHECK_ENDPOINT = "check that --api-base names an OpenAI-compatible endpoint (it usually ends in /v1)."
CATALOGUE: list[tuple[str, tuple[int, dict[str, str], bytes], str | None, str, int]] = [
    ("429", error(429, f"slow down {SECRET}", **{"Retry-After": "0", "X-Echo": SECRET}), SECRET,
     "{url} still answered HTTP 429 (rate limited) for 'test-model' after 4 attempts; lower --api-concurrency or "
     "raise the account's rate limit, then rerun.", 4),
    ("500", (500, {"X-Echo": SECRET}, f"boom, your key was {SECRET}\n<br>".encode()), SECRET,
     f"{{url}} still answered HTTP 500 internal server error for 'test-model' after 4 attempts (boom, your key was *** <br>); {FIX_SERVER}", 4),
    ("503", error(503, "model is loading"), SECRET,
     f"{{url}} still answered HTTP 503 service unavailable for 'test-model' after 4 attempts (model is loading); {FIX_SERVER}", 4),
    ("not-json", (200, {}, b"<html>hello</html>"), SECRET,
     f"{NOT_COMPLETION} (not JSON: '<html>hello</html>'), after 4 attempts; {CHECK_ENDPOINT}", 4),
    ("wrong-shape", (200, {}, b'{"choices": []}'), SECRET,
     f"{NOT_COMPLETION} (no choices[0].message.content in '{{\"choices\": []}}'), after 4 attempts; {CHECK_ENDPOINT}", 4),
    ("null-content", (200, {}, b'{"choices": [{"message": {"content": null}}]}'), SECRET,
     f"{NOT_COMPLETION} (the message content is NoneType, not text), after 4 attempts; {CHECK_ENDPOINT}", 4),
    ("401", error(401, f"Incorrect API key provided: {SECRET}"), SECRET,
     "{url} rejected the API key in $TEST_API_KEY (HTTP 401 unauthorized: Incorrect API key provided: ***); put the "
     "right key in TEST_API_KEY, or name the variable that holds it with --api-key-env.", 1),
    ("403", error(403, "no access to this model"), SECRET,
     "{url} denied the API key in $TEST_API_KEY access to 'test-model' (HTTP 403 forbidden: no access to this model); "
     "put a key allowed to use it in TEST_API_KEY, or name the variable that holds one with --api-key-env.", 1),
    ("401-no-key", error(401, "missing bearer token"), None,
     "{url} requires an API key (HTTP 401 unauthorized: missing bearer token), and the environment variable "
     "TEST_API_KEY named by --api-key-env is not set; export it, or name the variable that holds the key with --api-key-env.", 1),
    ("404", (404, {}, b'{"object": "error", "message": "The model `test-model` does not exist."}'), SECRET,
     "{url}/chat/completions answered HTTP 404 not found for 'test-model' (The model `test-model` does not exist.); check "
     "the model name, and that --api-base is the API's base URL (it usually ends in /v1).", 1),
    ("400", error(400, "max_tokens is too large"), SECRET,
     "{url} rejected the request for 'test-model' (HTTP 400 bad request: max_tokens is too large).", 1),
    ("redirect", (301, {"Location": f"https://user:{PASSWORD}@api.example/v1/chat/completions"}, b""), SECRET,
     "{url} redirects to https://api.example/v1/chat/completions (HTTP 301 moved permanently); use the address it "
     "redirects to as --api-base (a redirected POST is not re-sent).", 1),
]  # fmt: skip


@pytest.mark.parametrize(("response", "key", "expected", "attempts"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_each_failure_is_one_sentence_without_a_secret(
    server: Server, monkeypatch: pytest.MonkeyPatch, response: tuple[int, dict[str, str], bytes], key: str | None,
    expected: str, attempts: int,
) -> None:  # fmt: skip
    server.behaviour = lambda n, body: response
    model = make_model(server, monkeypatch, key=key)
    exc = failed(model)
    assert str(exc) == expected.replace("{url}", server.url)
    assert isinstance(exc, APIError) and exc.answered == {}
    assert len(server.bodies) == attempts  # a 4xx or a redirect is not retried
    assert_no_secret(model, exc, repr(exc))


def test_timeout_after_retries(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.6)
        return ok("late")

    server.behaviour = slow
    model = make_model(server, monkeypatch, api_timeout_s=0.15, api_max_retries=1)
    assert str(failed(model)) == (
        f"{server.url} gave no answer for 'test-model' within 0.15 s, after 2 attempts; the server is overloaded or the "
        "model is slow: lower --api-concurrency, or check the server."
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_names_the_url_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    model = make_model(None, monkeypatch, base=f"http://user:{PASSWORD}@127.0.0.1:{port}/v1", key=None)
    exc = failed(model)
    assert str(exc) == (
        f"nothing listens at http://127.0.0.1:{port}/v1 (connection refused, 4 attempts); start the server, or fix --api-base."
    )
    assert_no_secret(model, exc)


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "nosuch.invalid":  # never asked of a resolver: tests stay off the network
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    model = make_model(None, monkeypatch, base="http://nosuch.invalid/v1", api_max_retries=1)
    assert str(failed(model)) == (
        "the host of http://nosuch.invalid/v1 cannot be resolved (2 attempts); check --api-base for a typo, and the network."
    )


class _Banner(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(2.0)
        data = b""
        while b"\r\n\r\n" not in data:  # read the request, so that closing does not reset it
            chunk = self.request.recv(4096)
            if not chunk:
                return
            data += chunk
        length = int(next((ln.split(b":")[1] for ln in data.split(b"\r\n") if ln.lower().startswith(b"content-length")), b"0"))
        while len(data.split(b"\r\n\r\n", 1)[1]) < length:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            data += chunk
        self.request.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")


def _failure_at(handler: type[socketserver.BaseRequestHandler], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Exception]:
    """The base URL of a raw TCP server answering with ``handler``, and what a request to it (one retry) fails with."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as tcp:
        threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{tcp.server_address[1]}/v1"
            return url, failed(make_model(None, monkeypatch, base=url, api_max_retries=1))
        finally:
            tcp.shutdown()


def test_a_port_that_does_not_speak_http(monkeypatch: pytest.MonkeyPatch) -> None:
    url, exc = _failure_at(_Banner, monkeypatch)
    assert str(exc) == f"{url} does not answer in HTTP (2 attempts); check the port and the scheme in --api-base."


class _Hangup(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)  # the request, then the connection closes without a byte back


def test_a_server_that_hangs_up_without_a_byte_is_a_failed_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unlike a port that speaks another protocol (above): nothing came back, so it is the connection that failed."""
    url, exc = _failure_at(_Hangup, monkeypatch)
    assert str(exc) == (
        f"the connection to {url} failed after 2 attempts (RemoteProtocolError: Server disconnected without sending a "
        "response.); check the server and the network."
    )


def test_https_to_a_plain_http_server_fails_at_once(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url = server.url.replace("http://", "https://")
    exc = failed(make_model(server, monkeypatch, base=url))
    assert str(exc).startswith(f"the TLS handshake with {url} failed (")
    assert str(exc).endswith("); if the server speaks plain HTTP, use http:// in --api-base.")
    assert "\n" not in str(exc)


@pytest.fixture
def self_signed(tmp_path: Path) -> Path:
    """A certificate for 127.0.0.1 signed by nobody the system trusts, its key beside it (``key.pem``)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp_path / "cert.pem"


def test_tls_checks_the_certificate_against_the_system_cas_and_ssl_cert_file(
    self_signed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(self_signed, self_signed.with_name("key.pem"))
    server = Server(tls)
    try:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        exc = failed(make_model(server, monkeypatch, base=server.url))
        assert str(exc).startswith(f"the TLS certificate of {server.url} could not be verified (")
        assert str(exc).endswith("); fix the server's certificate, or point SSL_CERT_FILE at the CA that signed it.")
        assert server.bodies == []  # refused at the handshake, not retried
        monkeypatch.setenv("SSL_CERT_FILE", str(self_signed))  # the fix the sentence names works
        assert make_model(server, monkeypatch, base=server.url).generate([Request("q")]) == [Answer("yes")]
    finally:
        server.close()


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("localhost:8000/v1", "--api-base 'localhost:8000/v1' must start with http:// or https:// (for example http://localhost:8000/v1)."),
        ("ftp://host/v1", "--api-base 'ftp://host/v1' must start with http:// or https://."),
        (f"user:{PASSWORD}@localhost:8000/v1",
         "--api-base '***@localhost:8000/v1' must start with http:// or https:// (for example http://***@localhost:8000/v1)."),
        ("http:///v1", "--api-base 'http:///v1' has no host name (for example http://localhost:8000/v1)."),
        ("http://localhost:80a/v1", "--api-base 'http://localhost:80a/v1' has an invalid port (for example http://localhost:8000/v1)."),
    ],
    ids=["no-scheme", "ftp", "no-scheme-credentials", "no-host", "bad-port"],
)  # fmt: skip
def test_a_bad_base_url_is_refused_at_load(monkeypatch: pytest.MonkeyPatch, base: str, expected: str) -> None:
    with pytest.raises(APIError) as info:
        make_model(None, monkeypatch, base=base)
    assert str(info.value) == expected
    assert PASSWORD not in repr(info.value)


def test_a_bad_openai_base_url_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:8000/v1")
    with pytest.raises(APIError) as info:
        make_model(None, monkeypatch)
    assert str(info.value).startswith("$OPENAI_BASE_URL 'localhost:8000/v1' must start with http:// or https://")


# -- a batch: the answers that arrived survive a request that failed for good ------------------


def prompt_of(body: dict[str, Any]) -> str:
    return str(body["messages"][0]["content"][-1]["text"])


def test_a_request_failing_for_good_keeps_the_other_answers(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def behaviour(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if prompt_of(body) != "2":
            return ok(f"answer {prompt_of(body)}")
        deadline = time.monotonic() + 5.0  # fail only once the 7 others are in flight
        while sum(prompt_of(b) != "2" for b in list(server.bodies)) < 7 and time.monotonic() < deadline:
            time.sleep(0.005)
        return 500, {}, f"request 3 broke ({SECRET})".encode()

    server.behaviour = behaviour
    model = make_model(server, monkeypatch, api_concurrency=8)
    exc = failed(model, 8)
    assert isinstance(exc, RequestsFailed)
    assert exc.answered == {i: Answer(f"answer {i}") for i in range(8) if i != 2}
    assert str(exc) == f"{server.url} still answered HTTP 500 internal server error for 'test-model' after 4 attempts (request 3 broke (***)); {FIX_SERVER}"
    assert no_api_threads()
    assert_no_secret(model, exc)


def test_a_failure_stops_the_batch_without_leaving_threads(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a request has failed for good, requests not yet sent are not sent, and nothing is left running."""
    server.behaviour = lambda n, body: (500, {}, b"down")
    model = make_model(server, monkeypatch, api_concurrency=1)
    exc = failed(model, 6)
    assert exc.answered == {} and len(server.bodies) == 4  # request 0's four attempts, nothing else
    assert no_api_threads()
    server.behaviour = lambda n, body: ok("back")
    assert model.generate([Request("q")] * 3) == [Answer("back")] * 3  # the model still works afterwards


def test_retries_count_over_the_model_s_life_and_info_holds_no_count(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.behaviour = lambda n, body: (503, {}, b"busy") if n % 2 == 0 else ok("yes")
    model = make_model(server, monkeypatch, api_concurrency=1)
    model.generate([Request("a")])
    mark = model.retries
    model.generate([Request("b")])
    assert (mark, model.retries) == (1, 2)  # an evaluation records the difference (docs/models.md)
    assert model.info.retries is None


def test_a_prompt_refused_as_too_long_is_its_items_error_and_the_others_are_billed_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_vlmbench.datasets.base import Dataset, Item
    from pytest_vlmbench.evaluation.config import EvalConfig
    from pytest_vlmbench.evaluation.evaluate import evaluate
    from pytest_vlmbench.strategies.base import StrategyConfig

    too_long = {"error": {"message": f"This model's maximum context length is 128 tokens. However, your messages resulted in "
                                     f"901 tokens. ({SECRET})", "type": "invalid_request_error", "code": "context_length_exceeded"}}  # fmt: skip

    def behaviour(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if "sport " * 50 in prompt_of(body):
            return 400, {"Content-Type": "application/json"}, json.dumps(too_long).encode()
        answer = {"choices": [{"message": {"role": "assistant", "content": "business"}}],
                  "usage": {"prompt_tokens": 30, "completion_tokens": 1}}  # fmt: skip
        return 200, {}, json.dumps(answer).encode()

    server.behaviour = behaviour
    model = make_model(server, monkeypatch, api_concurrency=2)
    items = [Item(f"i{k}", "business", text=f"a short business story {k}") for k in range(4)]
    items[1] = Item("long", "sport", text="sport " * 200)
    dataset = Dataset("toy", ("sport", "business"), items, modality="text")
    record = evaluate(model, dataset, "closed_set", EvalConfig(batch_size=4, strategy=StrategyConfig(permutations=1)))
    assert [(e.id, e.error) for e in record.errors] == [(
        "long", f"{server.url} refused its prompt as longer than the context window of 'test-model' (This model's maximum "
        "context length is 128 tokens. However, your messages resulted in 901 tokens. (***)); show fewer exemplars "
        "(--k-shot) or shorten the text",
    )]  # fmt: skip
    assert record.n_items == 3 and record.metrics.accuracy == 1.0
    sent = [prompt_of(b) for b in server.bodies]
    assert len(sent) == 4 and len(set(sent)) == 4  # each prompt sent once: the three answers were not paid for twice
    assert record.tokens is not None and record.tokens.prompt == 3 * 30 and record.tokens.generated == 3
    assert no_api_threads()


# -- secrets: echoed keys and URL credentials ---------------------------------------------------


def test_an_echoed_key_is_masked_in_answers(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.behaviour = lambda n, body: ok(f"key {SECRET} / header {server.headers[n]['Authorization']}")
    model = make_model(server, monkeypatch)
    (answer,) = (a.text for a in model.generate([Request("q")]))
    assert SECRET not in answer and answer.startswith("key *** / header ")
    assert_no_secret(model, answer)


def test_url_credentials_are_sent_as_basic_auth_and_never_shown(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.behaviour = lambda n, body: ok(f"you sent {server.headers[n]['Authorization']}")
    base = server.url.replace("http://", f"http://alice:{PASSWORD.replace('-', '%2D')}@")  # percent-encoded in the URL
    model = make_model(server, monkeypatch, base=base, key=None)
    (answer,) = (a.text for a in model.generate([Request("q")]))
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert server.headers[0]["Authorization"] == f"Basic {token}"
    assert answer == "you sent Basic ***"
    assert model.info.api_base == server.url and model.base_url == server.url
    assert_no_secret(model, answer)
    server.behaviour = lambda n, body: error(401, f"bad password {PASSWORD}")
    exc = failed(model)
    assert str(exc) == (
        f"{server.url} rejected the user name and password given in --api-base (HTTP 401 unauthorized: bad password ***); "
        "correct them in the URL."
    )
    assert token not in str(exc)


def test_url_credentials_and_a_key_together_are_refused(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    base = server.url.replace("http://", f"http://alice:{PASSWORD}@")
    with pytest.raises(APIError) as info:
        make_model(server, monkeypatch, base=base)
    assert str(info.value) == (
        f"--api-base '{server.url}' has a user:password part and $TEST_API_KEY holds an API key, and a request carries "
        "one Authorization header; remove one of them (--api-key-env may name an unset variable)."
    )
    assert server.bodies == []


def test_pytest_run_with_url_credentials_and_an_echoing_server(server: Server, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_API_KEY", raising=False)
    server.behaviour = lambda n, body: ok(f"yes {server.headers[n]['Authorization']} {PASSWORD}")
    pytester.makepyfile(test_suite="def test_suite(vlmbench):\n    assert vlmbench.run().n_items == 2\n")
    result = pytester.runpytest(
        "--model", "api:served-model", "--api-base", server.url.replace("http://", f"http://bob:{PASSWORD}@"),
        "--api-key-env", "TEST_API_KEY", "--dataset", "digits", "--strategy", "binary", "--limit", "2",
        "--vlmbench-json", "out.json", "-p", "no:benchmark",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    written = (pytester.path / "out.json").read_text()
    assert PASSWORD not in written and PASSWORD not in result.stdout.str() and "Basic ***" in written
    assert server.headers[0]["Authorization"].startswith("Basic ")


def test_pytest_run_with_a_base_url_without_scheme_fails_in_one_sentence(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite="def test_suite(vlmbench):\n    vlmbench.run()\n")
    result = pytester.runpytest(
        "--model", "api:served-model", "--api-base", "localhost:8000/v1", "--dataset", "digits", "--strategy", "binary",
        "--limit", "2", "-p", "no:benchmark",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*--api-base 'localhost:8000/v1' must start with http:// or https:// (for example http://localhost:8000/v1).*"])
    assert "Traceback" not in result.stdout.str()
