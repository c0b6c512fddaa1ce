# Two entry points (README quick start): `make run` and `make test`.
# Both create .venv in the repo on first use. torch is installed first and pinned
# to the CPU wheel that lies on this machine's disk; a GPU user overrides TORCH_SPEC
# (e.g. `make run TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
# The lowest transformers pyproject allows; `make check-min-transformers` proves it loads
# every folder the app writes (tests/test_min_transformers.py). Keep the two in step.
MIN_TRANSFORMERS := 5.0.0
MIN_DEPS := .min-deps/transformers-$(MIN_TRANSFORMERS)

.PHONY: setup run test lint format package clean check-min-transformers

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

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
	rm -rf $(VENV) build dist *.egg-info .min-deps
