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
# every folder the app writes (tests/packaging/test_min_transformers.py). Keep the two in step.
MIN_TRANSFORMERS := 5.0.0
MIN_DEPS := .min-deps/transformers-$(MIN_TRANSFORMERS)

# The TRL the benchmarks compare against, each in a venv of its own beside .venv (never in it):
# .venv-trl the newest TRL (GRPO, RLOO, DPO), .venv-trl-ppo the last TRL with a PPO trainer.
# Both take the lock's versions of everything else (torch from TORCH_SPEC). bench/*_vs_trl.py
# run their TRL side with these venvs' python when they exist (docs/benchmarks.md).
TRL_SPEC ?= trl>=1.16
TRL_PPO_SPEC ?= trl==0.29.1

.PHONY: setup run test lint format package clean check-min-transformers lock test-latest \
	bench-venvs bench-check

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

bench-venvs: .venv-trl/.installed .venv-trl-ppo/.installed

.venv-trl/.installed: pyproject.toml $(LOCK)
	$(call trl_venv,.venv-trl,$(TRL_SPEC))

.venv-trl-ppo/.installed: pyproject.toml $(LOCK)
	$(call trl_venv,.venv-trl-ppo,$(TRL_PPO_SPEC))

# $(1): the venv, $(2): the TRL requirement; the lock's pins without its own TRL pin.
define trl_venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install -q --upgrade pip
	$(1)/bin/python -m pip install -q "$(TORCH_SPEC)"
	grep -v -i '^trl==' $(LOCK) > $(1)/constraints.txt
	$(1)/bin/python -m pip install -q -c $(1)/constraints.txt -e . "$(2)"
	$(1)/bin/python -m pip freeze --exclude-editable > $(1)/versions.txt
	touch $(1)/.installed
endef

# Before landing a change to a trainer, the rollout, the log-probs or memory handling: re-runs
# the short benchmarks and fails when a ratio in bench/baselines.json got more than 15% worse.
bench-check: setup bench-venvs
	$(BIN)/python -m bench.check

run: setup
	$(BIN)/rlhf-studio

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy

test: setup lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

# Installed beside .venv, never into it: the suite keeps running on the newest versions.
check-min-transformers: setup
	$(BIN)/python -m pip install -q --target $(MIN_DEPS) --no-deps \
		"transformers==$(MIN_TRANSFORMERS)" "huggingface-hub>=1.3,<2" \
		"tokenizers>=0.22,<=0.23.0" typer-slim httpx httpcore h11
	RLHF_STUDIO_MIN_TRANSFORMERS=$(MIN_DEPS) QT_QPA_PLATFORM=offscreen \
		$(BIN)/python -m pytest tests/packaging/test_min_transformers.py

# The installers (slow: minutes; not part of `make test`). See docs/packaging.md.
package:
	packaging/build.sh

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .venv-lock .venv-latest .venv-trl .venv-trl-ppo build dist *.egg-info .min-deps
