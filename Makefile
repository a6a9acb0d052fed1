# Registrar. `make` lists the targets. `make demo` runs Create → Update → Delete through the real
# binary against the local sandbox; `make test` runs every check. Each installs what it needs on
# first use: a .venv (from PyPI: the sandbox package in ./sandbox and the test tools), a .venv-sam
# (the SAM CLI, for the template size test) and crates (from crates.io). Nothing is installed outside the repository, except by `make zip` (below).

SHELL := /bin/bash
PYTHON3 ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
PIP := $(VENV)/bin/pip --quiet --disable-pip-version-check
VENDOR ?= datadog
EVENT ?= events/datadog/create.json

.DEFAULT_GOAL := help
.PHONY: help demo invoke test lint unit template integration build install release release-cli zip bench \
        bench-coldstart bench-rollout bench-dynatrace bench-audit clean refresh-permissions

help:
	@echo "Try it:"
	@echo "  make demo [VENDOR=dynatrace]   build both binaries, run a registration's whole life in the sandbox, then audit it"
	@echo "  make invoke EVENT=<file>       run one events/ file through bootstrap in the sandbox"
	@echo "Build and install:"
	@echo "  make build                     both binaries, debug: target/debug/bootstrap and target/debug/registrar"
	@echo "  make install                   the registrar CLI onto your PATH (cargo install --path cli --locked, into ~/.cargo/bin)"
	@echo "  make zip                       the deployable arm64 zip (target/lambda/bootstrap/bootstrap.zip)"
	@echo "  make release | release-cli     release builds of bootstrap | registrar (for the benchmarks)"
	@echo "Check:"
	@echo "  make test                      all of: lint unit template integration"
	@echo "  make lint                      cargo fmt --check, clippy -D warnings, cfn-lint"
	@echo "  make unit                      cargo test (Rust unit and contract tests)"
	@echo "  make template                  template tests (tests/template)"
	@echo "  make integration               integration tests through the real binaries (tests/integration, the deploy guide's test)"
	@echo "Measure (figures, no assertions):"
	@echo "  make bench                     bench-coldstart, bench-rollout and bench-dynatrace"
	@echo "  make bench-coldstart           cold start of the release bootstrap"
	@echo "  make bench-rollout             Datadog rollout (ROLLOUT_ARGS)"
	@echo "  make bench-dynatrace           Dynatrace rollout (DYNATRACE_ROLLOUT_ARGS)"
	@echo "  make bench-audit               registrar audit of 5,000 accounts and registrations (AUDIT_ARGS)"
	@echo "Maintain:"
	@echo "  make refresh-permissions [FROM=<recording>...]  rebuild the bundled Datadog permission lists"
	@echo "  make clean                     remove .venv, .venv-sam and target/"

# The sandbox (./sandbox, editable: the tests and demos import it as `sandbox`) and the test tools,
# with exact pins in sandbox/pyproject.toml and tests/requirements.txt.
$(VENV)/.installed: sandbox/pyproject.toml tests/requirements.txt
	@$(PYTHON3) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "Registrar's sandbox needs Python 3.11 or later; $(PYTHON3) is $$($(PYTHON3) -V 2>&1)." \
	       "Run make with PYTHON3=<a python3.11 or later>."; exit 1; }
	$(PYTHON3) -m venv $(VENV)
	$(PIP) install -r tests/requirements.txt -e ./sandbox
	touch $@

# Both binaries (debug): the Lambda (`bootstrap`) and the platform engineer's CLI (`registrar`, cli/),
# nothing else (no test targets). `cargo test` reuses every crate this builds: cli/Cargo.toml keeps
# the features of both commands equal (tests/template/test_one_build.py checks it).
build:
	cargo build --locked --workspace --bins

# `registrar` on your PATH: a release build of the CLI into cargo's bin directory (~/.cargo/bin).
install:
	cargo install --locked --path cli

demo: $(VENV)/.installed build
	$(PYTHON) -m sandbox.demo --vendor $(VENDOR)

# One event file (events/) through the real binary: its ResponseURL, secret and vendor swapped
# for the sandbox's; an Update or Delete first gets the resource it needs (see events/README.md).
invoke: $(VENV)/.installed build
	$(PYTHON) -m sandbox.invoke $(EVENT)

test: lint unit template integration

# cfn-lint: each template for the regions its Metadata names, ALL_REGIONS (every partition), or
# for dynatrace-ingest.yaml those with EventBridge API destinations (docs/template.md).
lint: $(VENV)/.installed
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint templates/*.yaml

unit:
	cargo test --locked --workspace

# The SAM CLI in a virtualenv of its own (its boto3 pins differ from moto's), for the template
# size test's `sam build` and `sam package` routes.
SAM_VENV := .venv-sam
$(SAM_VENV)/.installed: tests/requirements-sam.txt
	$(PYTHON3) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip --quiet --disable-pip-version-check install -r tests/requirements-sam.txt
	touch $@

template: $(VENV)/.installed $(SAM_VENV)/.installed
	REGISTRAR_SAM=$(CURDIR)/$(SAM_VENV)/bin/sam $(VENV)/bin/pytest -q tests/template

integration: $(VENV)/.installed build
	$(VENV)/bin/pytest -q tests/integration

# The deployable arm64 zip. cargo-lambda (with the Zig linker) installs into .venv. It needs Rust's
# standard library for aarch64-unknown-linux-gnu in your rustup toolchain: that is a change to
# ~/.rustup, outside this repository, so `make zip` asks you to make it rather than making it.
ZIP_TARGET := aarch64-unknown-linux-gnu
CARGO_LAMBDA_VERSION := 1.9.2
$(VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION): $(VENV)/.installed
	$(PIP) install cargo-lambda==$(CARGO_LAMBDA_VERSION)
	touch $@

zip: $(VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION)
	@rustup target list --installed 2>/dev/null | grep -qx $(ZIP_TARGET) || { \
	  echo "make zip needs Rust's standard library for $(ZIP_TARGET). Add it to your rustup" \
	       "toolchain (in ~/.rustup, outside this repository) with: rustup target add $(ZIP_TARGET)"; exit 1; }
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip --bin bootstrap
	@echo "the zip: $${CARGO_TARGET_DIR:-target}/lambda/bootstrap/bootstrap.zip"

# Benchmarks (not part of `make test`): they print figures, they assert nothing about time.
release:
	cargo build --locked --release --bin bootstrap

release-cli:
	cargo build --locked --release -p registrar-cli --bin registrar

bench: bench-coldstart bench-rollout bench-dynatrace

bench-coldstart: $(VENV)/.installed release
	$(PYTHON) -m sandbox.bench.coldstart --runs 30

ROLLOUT_ARGS ?= --accounts 1000 --concurrency 100 --error-rate 0.05 --limit 300 --period 10
bench-rollout: $(VENV)/.installed release
	$(PYTHON) -m sandbox.bench.rollout $(ROLLOUT_ARGS)

DYNATRACE_ROLLOUT_ARGS ?= --accounts 200 --concurrency 50 --jitter-ms 5 80
bench-dynatrace: $(VENV)/.installed release
	$(PYTHON) -m sandbox.bench.dynatrace_rollout $(DYNATRACE_ROLLOUT_ARGS)

AUDIT_ARGS ?= --accounts 5000
bench-audit: $(VENV)/.installed release-cli
	$(PYTHON) -m sandbox.bench.audit $(AUDIT_ARGS)

# The Datadog permission lists bundled with the Lambda (src/integrations/datadog/bundled/), from
# Datadog's endpoint (as Datadog's templates ask it), or from recordings: FROM="<cassette.yaml
# or tests/data/datadog/*.json> ..." (sandbox/datadog_permissions.py says which formats).
refresh-permissions: $(VENV)/.installed
	$(PYTHON) -m sandbox.datadog_permissions $(if $(FROM),--from $(FROM))

clean:
	rm -rf $(VENV) $(SAM_VENV) target
