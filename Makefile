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

.PHONY: install bench test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test,vision,data]'
	@if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || \
	      echo "note: could not install dataset-fashion-mnist; the default run uses sklearn digits"; \
	  else \
	    echo "note: not root, so dataset-fashion-mnist is not installed; the default run uses sklearn digits"; \
	  fi; \
	fi
	touch $(STAMP)

# The built-in offline default: tiny Qwen2-VL x Fashion-MNIST x {closed_set, binary}.
bench: install
	mkdir -p $(RESULTS)
	$(BIN)/pytest suites/ --benchmark-json=$(RESULTS)/bench.json --vlmbench-json=$(RESULTS)/vlmbench.json $(BENCH_ARGS)

# Types first (mypy strict over the package and its tests, ~30 s), so that pytest's summary
# is the last thing printed.
test: install
	$(BIN)/mypy pytest_vlmbench tests
	$(BIN)/pytest tests/ $(TEST_ARGS)

clean:
	rm -rf $(VENV) $(RESULTS) .pytest_cache .benchmarks .hypothesis
