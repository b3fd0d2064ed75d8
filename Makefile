# One entry point for people and CI. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# The virtualenv's tools, pinned by requirements-dev.txt, whatever else is on PATH.
MATURIN := $(VENV)/bin/maturin
RUFF := $(VENV)/bin/ruff
MYPY := $(PY) -m mypy
LINTED := python tests benches examples
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)

.PHONY: help venv build build-profiling wheel sdist test-wheel memcached demo test test-fast test-rust test-python lint rust-lint-tools format docs bench bench-frozen faults bench-rust fuzz soak clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## Create the virtualenv with the dev and test tools

build: venv ## Build the extension (release) and install it into the virtualenv
	$(MATURIN) develop --release -q

build-profiling: venv ## Like build, with symbols and line tables (for perf, callgrind)
	$(MATURIN) develop --profile profiling -q

# The wheel's platform tag: manylinux_2_17 via zig (see requirements-wheel.txt).
WHEEL_COMPATIBILITY ?= manylinux_2_17

wheel: venv ## Build the abi3 manylinux wheel (stripped) into dist/ and show its tag
	$(PY) -m pip install -q -r requirements-wheel.txt
	$(MATURIN) build --release --zig --compatibility $(WHEEL_COMPATIBILITY) --out dist
	$(VENV)/bin/auditwheel show $$(ls -t dist/memlease-*.whl | head -1)

sdist: venv ## Build the source distribution into dist/
	$(MATURIN) sdist --out dist

# Slow (a release build): CI runs it beside `make lint test`, whose copy of this test builds a
# plain wheel on the build machine's glibc instead (MEMLEASE_WHEEL unset).
test-wheel: wheel memcached ## Install the wheel in a fresh virtualenv without Rust; round trip
	MEMLEASE_WHEEL=$$(ls -t dist/memlease-*.whl | head -1) $(PY) -m pytest -q tests/test_wheel.py

memcached: ## Install memcached (Debian package) if it is missing
	@if ! command -v memcached >/dev/null && [ ! -x /usr/bin/memcached ]; then \
		echo "memcached not found: installing the Debian package"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q memcached; \
	fi

demo: build memcached ## Run the demo against a throwaway local memcached
	$(PY) examples/demo.py

test: build memcached test-rust test-python ## Run the Rust tests and the whole pytest suite

test-rust:
	cargo test --quiet

test-python:
	$(PY) -m pytest -q

test-fast: build memcached ## The pytest suite without the tests marked slow (quick loops)
	$(PY) -m pytest -q -m "not slow"

lint: build rust-lint-tools ## cargo fmt --check, clippy, ruff, mypy, stubtest (CI runs it)
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	$(RUFF) check $(LINTED)
	$(RUFF) format --check $(LINTED)
	$(MYPY)
	$(PY) -m mypy.stubtest memlease._core --allowlist .mypy-stubtest-allowlist

# A fresh toolchain may lack the rustfmt and clippy components.
rust-lint-tools:
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

format: venv ## Apply cargo fmt and ruff format
	cargo fmt
	$(RUFF) format $(LINTED)
	$(RUFF) check --fix $(LINTED)

$(VENV)/.docs-installed: docs/requirements.txt $(VENV)/.installed
	$(PY) -m pip install -q -r docs/requirements.txt
	touch $@

# The API reference imports memlease (the Rust methods' docstrings exist only at run time), hence
# `build`. --strict: a broken link, page or reference fails the build.
docs: build $(VENV)/.docs-installed ## Build the documentation site into site/ (MkDocs, --strict)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# BENCH_ARGS: options of benches/bench.py, e.g. BENCH_ARGS="--scenarios fleet16_get_many_1000".
BENCH_ARGS ?=

bench: build memcached ## Benchmark memlease against peers (table on stdout; benches/results/<date>.md + .svg chart)
	$(PY) -m pip install -q -r benches/requirements.txt
	$(PY) benches/bench.py $(BENCH_ARGS)

bench-frozen: build memcached ## Latency while a server is frozen, before and after mark-down
	$(PY) -m pip install -q -r benches/requirements.txt
	$(PY) benches/frozen_server.py

# SOAK_SECONDS: length of the fault phase (default 600); CI runs a 60 s version in the suite
# (tests/test_soak.py), which reports the throughput without enforcing it.
soak: build memcached ## Soak: mixed traffic while servers are killed, frozen, restarted (SOAK_SECONDS, default 600)
	$(PY) benches/soak.py --seconds $${SOAK_SECONDS:-600} --check-throughput

# FAULTS_ARGS: options of benches/fault_matrix.py, e.g. FAULTS_ARGS="--calls 30 --faults killed".
FAULTS_ARGS ?=

faults: build memcached ## The fault matrix: faults x clients x operation families (table on stdout)
	$(PY) benches/fault_matrix.py $(FAULTS_ARGS)

bench-rust: ## Criterion micro-benchmarks of the Rust codec (encode, parse, keys, ring; ns/op)
	cargo bench --bench codec

fuzz: ## Fuzz the reply parser for FUZZ_SECONDS (default 300; needs cargo-fuzz)
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run parse_response corpus/parse_response seeds/parse_response -- -max_len=16384 -max_total_time=$${FUZZ_SECONDS:-300}

clean: ## Remove build products and the virtualenv
	cargo clean
	rm -rf $(VENV) python/memlease/*.so dist site
