# Two commands do all the set-up: `make demo` and `make test`. Each bootstraps .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test firmware bench lock clean help
help:
	@echo "make demo   - start broker, simulated fleet, landing, Dagster and Streamlit (Ctrl-C stops all)"
	@echo "make test   - build the host firmware, run its C++ tests, then the whole pytest suite"
	@echo "make firmware - only build the host firmware (carbon-device) and run its C++ tests"
	@echo "make bench  - landing, pipeline and firmware-backlog benchmarks against a real Mosquitto (needs mosquitto, mosquitto-clients)"
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

test: $(STAMP) firmware
	$(BIN)/python -m pytest

# The firmware's core, the carbon-device emulator and its doctest tests (needs cmake, g++,
# libmosquitto-dev and doctest-dev; .ci/run installs them). The ESP32 build is PlatformIO's.
firmware:
	cmake -S firmware -B firmware/build >/dev/null
	cmake --build firmware/build -j2
	ctest --test-dir firmware/build --output-on-failure

bench: $(STAMP) firmware
	$(BIN)/python benchmarks/landing.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/materialize.py
	$(BIN)/python benchmarks/firmware.py

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) lake test-artifacts .pytest_cache firmware/build
