"""The OpenAI-compatible API adapter against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_vlmbench.models.api import APIError, OpenAIChatModel, image_data_url
from pytest_vlmbench.models.base import LoadOptions, Request
from pytest_vlmbench.models.zoo import make_spec

SECRET = "sk-test-SECRET-never-logged-123"
Behaviour = Callable[[int, dict[str, Any]], tuple[int, dict[str, str], bytes]]


def ok(text: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()


class Server:
    """A chat-completions endpoint whose answer to the n-th request is ``behaviour(n, body)``."""

    def __init__(self) -> None:
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
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def make_model(server: Server, monkeypatch: pytest.MonkeyPatch, **options: Any) -> OpenAIChatModel:
    monkeypatch.setenv("TEST_API_KEY", SECRET)
    spec = make_spec("api:test-model", "test-model", "openai-api", api_backoff_s=0.01)
    settings: dict[str, Any] = {"api_timeout_s": 2.0, "api_max_retries": 3, **options}
    opts = LoadOptions(api_base=server.url, api_key_env="TEST_API_KEY", **settings)
    return OpenAIChatModel("test-model", spec, opts)


def test_answers_in_order_with_key_header_and_image_as_data_url(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    server.behaviour = lambda n, body: ok(body["messages"][0]["content"][-1]["text"].upper())
    model = make_model(server, monkeypatch)
    image = Image.new("RGB", (8, 8), (255, 0, 0))
    answers = model.generate([Request("a", image), Request("b"), Request("c")])
    assert answers == ["A", "B", "C"]
    assert all(h["Authorization"] == f"Bearer {SECRET}" for h in server.headers)
    first = next(b for b in server.bodies if b["messages"][0]["content"][-1]["text"] == "a")
    assert first["messages"][0]["content"][0]["image_url"]["url"] == image_data_url(image)
    assert first["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert first["model"] == "test-model" and first["temperature"] == 0


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
    assert model.generate([Request("q")]) == ["no"]
    assert model.retries == 2 and model.info["retries"] == 2


def test_timeout_is_retried(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_first(n: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if n == 0:
            time.sleep(1.0)
        return ok("yes")

    server.behaviour = slow_first
    model = make_model(server, monkeypatch, api_timeout_s=0.3)
    assert model.generate([Request("q")]) == ["yes"]
    assert model.retries == 1


def test_gives_up_after_max_retries_without_leaking_the_key(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.behaviour = lambda n, body: (500, {}, f"boom, your key was {SECRET}".encode())
    model = make_model(server, monkeypatch)
    with pytest.raises(APIError) as info:
        model.generate([Request("q")])
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
    assert model.generate([Request(str(i)) for i in range(8)]) == ["yes"] * 8
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
    assert record.model_info["api_base"] == server.url
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
    from pytest_vlmbench.models.api import public_url

    assert public_url("https://user:pw@example.com:8443/v1") == "https://example.com:8443/v1"
    assert public_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
