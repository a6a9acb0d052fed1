# Registrar: `make demo` runs Create → Update → Delete through the real binary against the local
# sandbox; `make test` runs every check. Both install what they need (a .venv from PyPI, crates
# from crates.io) on first use.

SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
VENDOR ?= datadog
SANDBOX := PYTHONPATH=tests $(PYTHON)

.PHONY: demo test lint unit template integration build release zip bench bench-coldstart bench-rollout bench-dynatrace clean

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

build:
	cargo build --locked --bin bootstrap

demo: $(VENV)/.installed build
	$(SANDBOX) -m sandbox.demo --vendor $(VENDOR)

test: lint unit template integration

lint: $(VENV)/.installed
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint template.yaml foundation.yaml

unit:
	cargo test --locked

template: $(VENV)/.installed
	$(SANDBOX) -m pytest -q tests/template

integration: $(VENV)/.installed build
	$(SANDBOX) -m pytest -q tests/integration

# The deployable arm64 zip (target/lambda/bootstrap/bootstrap.zip); cargo-lambda and zig come
# from PyPI (tests/requirements-build.txt).
$(VENV)/.build-tools: tests/requirements-build.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements-build.txt
	touch $@

zip: $(VENV)/.build-tools
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip --bin bootstrap

# Benchmarks (not part of `make test`): they print figures, they assert nothing about time.
release:
	cargo build --locked --release --bin bootstrap

bench: bench-coldstart bench-rollout bench-dynatrace

bench-coldstart: $(VENV)/.installed release
	$(SANDBOX) tests/bench/coldstart.py --runs 30

ROLLOUT_ARGS ?= --accounts 1000 --concurrency 100 --error-rate 0.05 --limit 300 --period 10
bench-rollout: $(VENV)/.installed release
	$(SANDBOX) tests/bench/rollout.py $(ROLLOUT_ARGS)

DYNATRACE_ROLLOUT_ARGS ?= --accounts 200 --concurrency 50 --jitter-ms 5 80
bench-dynatrace: $(VENV)/.installed release
	$(SANDBOX) tests/bench/dynatrace_rollout.py $(DYNATRACE_ROLLOUT_ARGS)

clean:
	rm -rf $(VENV) target
