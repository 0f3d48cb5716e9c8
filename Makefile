# duanka — every entry point. `make run` and `make test` set up everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NATIVE := native/Cargo.toml
NATIVE_SOURCES := $(NATIVE) native/Cargo.lock \
  $(wildcard native/*/Cargo.toml native/*/src/*.rs native/*/src/*/*.rs)
DURATION ?=

.PHONY: help venv kafka-up kafka-down topics worker run simulate lint test pytest check chaos soak soak-sim bench schemas lock clean

help:
	@echo "make run        broker, topics, worker and simulated carriers; alerts printed (DURATION=s)"
	@echo "make test       venv, broker, ruff, mypy and pytest; broker stopped afterwards"
	@echo "make chaos      crash, lost disk, rebalance, broker outage, hostile input, burst (~15 min)"
	@echo "make soak       the backlog test's worlds 10 times each, half under a pause nemesis (~60 min)"
	@echo "make soak-sim   the deterministic simulation over many seeds (SEEDS=20000, ~25 min)"
	@echo "make bench      core, end to end, scale-out, latency, memory (~35 min) -> bench/results.json"
	@echo "make kafka-up / kafka-down / topics / worker / schemas / lock / clean"

$(INSTALLED): requirements.lock pyproject.toml $(NATIVE_SOURCES)
	@command -v cargo >/dev/null || { echo "duanka's native core needs Rust 1.87 or later:" \
	  "install it with rustup (https://rustup.rs), then run make again" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(INSTALLED)

kafka-up:
	deploy/local/kafka.sh up

kafka-down:
	deploy/local/kafka.sh down

topics: venv kafka-up
	$(BIN)/duanka topics

worker: venv kafka-up
	$(BIN)/duanka worker

run: venv
	DURATION=$(DURATION) deploy/local/run.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cargo fmt --manifest-path $(NATIVE) --all --check
	cargo clippy --manifest-path $(NATIVE) --locked --all-targets --quiet -- -D warnings
	cargo test --manifest-path $(NATIVE) --locked --quiet

pytest: venv
	$(BIN)/pytest

check: lint pytest

test: venv
	deploy/local/tools.sh
	deploy/local/kafka.sh up
	status=0; $(MAKE) --no-print-directory check || status=$$?; \
	  deploy/local/kafka.sh down; exit $$status

soak: venv
	deploy/local/kafka.sh up
	status=0; DUANKA_SOAK_RUNS=$${DUANKA_SOAK_RUNS:-10} $(BIN)/pytest -m soak -rf tests/soak \
	  || status=$$?; deploy/local/kafka.sh down; exit $$status

SEEDS ?= 20000
soak-sim: venv
	$(BIN)/python -m tests.dst --seeds $(SEEDS)

bench: venv
	deploy/local/kafka.sh up
	status=0; $(BIN)/python -m bench || status=$$?; deploy/local/kafka.sh down; exit $$status

chaos: venv
	deploy/local/kafka.sh up
	status=0; DUANKA_CHAOS_EVENTS=$${DUANKA_CHAOS_EVENTS:-100000} \
	  DUANKA_CHAOS_RATE=$${DUANKA_CHAOS_RATE:-300} $(BIN)/pytest -m integration -s tests/chaos \
	  || status=$$?; deploy/local/kafka.sh down; exit $$status

schemas: venv
	$(BIN)/duanka schemas

lock:
	$(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	  -o requirements.lock
	$(PYTHON) -m uv pip compile pyproject.toml --python-version 3.11 --generate-hashes \
	  -o requirements-runtime.lock

clean:
	deploy/local/kafka.sh reset
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache native/target duanka/_native*.so
