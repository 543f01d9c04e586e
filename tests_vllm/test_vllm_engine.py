"""The in-process vLLM engine on a real vLLM (CPU) with tiny Qwen2: answers, token counts, the
prefix cache, the record's engine config, and agreement with the Hugging Face adapter.

One engine serves the whole module (and is closed at its end), as one engine serves all of a
model's items in a run; test_vllm_release.py loads engines one after another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from engine_helpers import MIN_AGREEMENT, VLLM, agreement, bbc_prompts, engine_answers, hf_answers, load

from pytest_vlmbench.datasets.resolve import load_dataset
from pytest_vlmbench.evaluation.config import EvalConfig
from pytest_vlmbench.evaluation.evaluate import evaluate
from pytest_vlmbench.models.base import Request
from pytest_vlmbench.models.vllm_engine import VLLMModel
from pytest_vlmbench.record import EngineInfo, ModelInfo, plain_json

NAME = "tiny:qwen2.5-7b"


@pytest.fixture(scope="module")
def qwen() -> Iterator[VLLMModel]:
    model = load(NAME, VLLM)
    assert isinstance(model, VLLMModel)  # --engine vllm, not the model's HF adapter
    yield model
    model.close()


def test_engine_answers_counts_tokens_and_states_its_settings(qwen: VLLMModel) -> None:
    requests = [Request("Is it sport? Answer yes or no.", max_new_tokens=3), Request("Which class?", max_new_tokens=5)]
    answers = qwen.generate(requests)
    assert len(answers) == 2 and all(isinstance(a.text, str) for a in answers)
    tokens = [a.tokens for a in answers]
    assert all(t is not None and t.prompt > 5 for t in tokens)
    assert [t is not None and t.generated <= r.max_new_tokens for t, r in zip(tokens, requests)] == [True, True]
    assert qwen.info.family == "vllm" and qwen.info.architecture == "Qwen2ForCausalLM"
    assert qwen.info.engine == EngineInfo("vllm", tensor_parallel_size=1, max_model_len=8192, prefix_caching=True)
    assert qwen.info.dtype == "float32" and qwen.info.device == "cpu"


def test_prefix_cache_serves_the_shared_prefix_of_an_item(qwen: VLLMModel) -> None:
    """Binary's five questions about one article share the article: vLLM computes it once."""
    requests = bbc_prompts(1)[1:]
    qwen.generate(requests[:1])  # the article's blocks enter the cache
    tokens = [a.tokens for a in qwen.generate(requests[1:])]
    # Whole KV blocks are cached, so a block-aligned part of the article is shared.
    assert all(t is not None and 0 < t.shared < t.prompt for t in tokens), tokens


def test_record_config_names_the_engine(qwen: VLLMModel) -> None:
    record = evaluate(qwen, load_dataset("bbc_news"), "binary", EvalConfig(limit=2))
    assert record.config.extra["engine"] == plain_json(qwen.info.engine)
    assert record.model_info.engine_version
    # The same case run on transformers has no engine entry, so the gate never pairs the two.
    hf_like = replace(record, model_info=ModelInfo(), config=replace(record.config, extra={}))
    assert '"engine"' in record.match_key() and '"engine"' not in hf_like.match_key()


def test_vllm_and_hf_agree_on_greedy_answers(qwen: VLLMModel) -> None:
    """Same tiny model, same BBC News prompts: the same greedy answer on at least 95% of them.

    Both run float32 on the CPU; they may still differ where two answer tokens' logits are
    within rounding of each other (other attention kernels, other summation orders), which
    is why the bar is 95% and not 100%; the differences are printed.
    """
    requests = bbc_prompts()
    expected = hf_answers(NAME, requests)
    assert agreement(NAME, expected, [a.text for a in qwen.generate(requests)]) >= MIN_AGREEMENT


REFERENCE = "ref:qwen2-text"


def test_vllm_and_hf_agree_on_the_text_reference_models_answers() -> None:
    """The trained text reference answers with a class or yes/no and then ends: answers that
    are not noise, so HF and vLLM must agree on at least 99% of its prompts (both strategies'
    questions about 40 held-out articles)."""
    from pytest_vlmbench.models.zoo import REFERENCE_DIR

    if not (REFERENCE_DIR / "qwen2-text" / "model.safetensors").is_file():
        pytest.skip("ref:qwen2-text is not in this checkout")
    requests = bbc_prompts(40, "bbc_news_lead")
    expected = hf_answers(REFERENCE, requests)
    got = engine_answers(REFERENCE, requests)
    assert agreement(REFERENCE, expected, got) >= 0.99
    classes = set(load_dataset("bbc_news_lead").classes)
    assert sum(a in classes or a in ("yes", "no") for a in got) >= 0.99 * len(got)  # real answers, not noise
