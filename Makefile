# Two commands do all the set-up: `make demo` and `make test`. Each bootstraps .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lock clean help
help:
	@echo "make demo   - start broker, simulated fleet, landing, Dagster and Streamlit (Ctrl-C stops all)"
	@echo "make test   - run the whole test suite"
	@echo "make bench  - landing benchmarks against a real Mosquitto (needs mosquitto, mosquitto-clients)"
	@echo "make lock   - re-resolve requirements.lock from pyproject.toml"

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/carbon-lake demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/landing.py
	$(BIN)/python benchmarks/pipeline.py

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) lake test-artifacts .pytest_cache
