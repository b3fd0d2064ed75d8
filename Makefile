# One entry point for people and CI. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)

.PHONY: help venv build memcached demo test test-rust test-python lint format bench bench-frozen bench-rust fuzz clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## Create the virtualenv with the dev and test tools

build: venv ## Build the extension (release) and install it into the virtualenv
	maturin develop --release -q

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

lint: venv ## cargo fmt --check, clippy, ruff, mypy, stubtest
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	ruff check python tests benches examples
	ruff format --check python tests benches examples
	mypy
	$(PY) -m mypy.stubtest memlease._core --allowlist .mypy-stubtest-allowlist

format: venv ## Apply cargo fmt and ruff format
	cargo fmt
	ruff format python tests benches examples
	ruff check --fix python tests benches examples

bench: build memcached ## Benchmark memlease against peer clients (prints a markdown table)
	$(PY) -m pip install -q -r benches/requirements.txt
	$(PY) benches/bench.py

bench-frozen: build memcached ## Latency while a server is frozen, before and after mark-down
	$(PY) -m pip install -q -r benches/requirements.txt
	$(PY) benches/frozen_server.py

bench-rust: ## Criterion micro-benchmarks of the Rust codec (encode, parse, keys, ring; ns/op)
	cargo bench --bench codec

fuzz: ## Fuzz the reply parser for FUZZ_SECONDS (default 300; needs cargo-fuzz)
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run parse_response corpus/parse_response seeds/parse_response -- -max_len=16384 -max_total_time=$${FUZZ_SECONDS:-300}

clean: ## Remove build products and the virtualenv
	cargo clean
	rm -rf $(VENV) python/memlease/*.so
