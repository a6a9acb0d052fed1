# Registrar: `make demo` runs Create → Update → Delete through the real binary against the local
# sandbox; `make test` runs every check. Both install what they need (a .venv from PyPI, crates
# from crates.io) on first use.

SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
VENDOR ?= datadog
SANDBOX := PYTHONPATH=tests $(PYTHON)

.PHONY: demo test lint unit template integration build zip bench clean

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
	$(VENV)/bin/cfn-lint template.yaml

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

clean:
	rm -rf $(VENV) target
