# Two entry points (README quick start): `make run` and `make test`.
# Both create .venv in the repo on first use, from the committed lock (requirements-dev.lock):
# the exact versions the suite last passed with, so a fresh clone installs what CI tested.
# Users installing the package get pyproject's ranges instead. torch is installed first and
# pinned to the CPU wheel that lies on this machine's disk; a GPU user overrides TORCH_SPEC
# with the same version from a CUDA index (README, "The lock").
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
LOCK ?= requirements-dev.lock
# `make setup LOCK=` installs from pyproject's ranges instead (another OS or Python).
CONSTRAINTS := $(if $(LOCK),-c $(LOCK))
# What a developer's .venv and CI install: every extra the test suite exercises.
DEV_EXTRAS := test,bench,quant,tensorboard,gguf
# What the lock covers: those, and the installers' build tools (packaging/build.sh).
LOCK_EXTRAS := $(DEV_EXTRAS),package
# The lowest transformers pyproject allows; `make check-min-transformers` proves it loads
# every folder the app writes (tests/test_min_transformers.py). Keep the two in step.
MIN_TRANSFORMERS := 5.0.0
MIN_DEPS := .min-deps/transformers-$(MIN_TRANSFORMERS)

.PHONY: setup run test lint format package clean check-min-transformers lock test-latest

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(CONSTRAINTS) --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q $(CONSTRAINTS) -e ".[$(DEV_EXTRAS)]"
	touch $@

# Refresh the lock on purpose (never as a side effect): the newest versions pyproject allows,
# resolved in a throwaway venv beside the CPU torch, then frozen. Run `make test` after it.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q "$(TORCH_SPEC)"
	.venv-lock/bin/python -m pip install -q -e ".[$(LOCK_EXTRAS)]"
	{ echo "# The development, test and CI environment (make setup), frozen by \`make lock\`."; \
	  echo "# torch is left out: it goes in first, from TORCH_SPEC. Users get pyproject's ranges."; \
	  .venv-lock/bin/python -m pip freeze --all --exclude-editable \
	    | grep -v -i -E '^torch(==| @)'; } > requirements-dev.lock
	rm -rf .venv-lock

# Drift found before users find it: the suite on the newest versions pyproject allows, in a
# throwaway venv (.venv-latest; torch stays TORCH_SPEC). Not in CI; results in docs/benchmarks.md.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q "$(TORCH_SPEC)"
	# The eager upgrade would replace the CPU torch with PyPI's newest (a CUDA build): hold it.
	.venv-latest/bin/python -m pip freeze | grep -i '^torch==' > .venv-latest/torch.txt
	.venv-latest/bin/python -m pip install -q -c .venv-latest/torch.txt \
	  --upgrade --upgrade-strategy eager -e ".[$(DEV_EXTRAS)]"
	.venv-latest/bin/python -m pip freeze --exclude-editable > .venv-latest/versions.txt
	@echo "newest versions: .venv-latest/versions.txt"; \
	  diff <(grep -v '^#' requirements-dev.lock | sort -f) <(sort -f .venv-latest/versions.txt) \
	  | grep '^>' || true
	QT_QPA_PLATFORM=offscreen .venv-latest/bin/python -m pytest

run: setup
	$(BIN)/rlhf-studio

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

# Installed beside .venv, never into it: the suite keeps running on the newest versions.
check-min-transformers: setup
	$(BIN)/python -m pip install -q --target $(MIN_DEPS) --no-deps \
		"transformers==$(MIN_TRANSFORMERS)" "huggingface-hub>=1.3,<2" \
		"tokenizers>=0.22,<=0.23.0" typer-slim httpx httpcore h11
	RLHF_STUDIO_MIN_TRANSFORMERS=$(MIN_DEPS) QT_QPA_PLATFORM=offscreen \
		$(BIN)/python -m pytest tests/test_min_transformers.py

# The installers (slow: minutes; not part of `make test`). See docs/packaging.md.
package:
	packaging/build.sh

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .venv-lock .venv-latest build dist *.egg-info .min-deps
