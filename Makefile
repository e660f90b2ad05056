# Emma: `make demo` and `make test` bootstrap everything they need on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.lock pyproject.toml | sha256sum | cut -c1-12)
UV_VERSION := 0.13.9
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export TZ := UTC
# Tests run on one worker more than there are cores, at most 4 (each worker may synthesise the stack: about
# 1 GB): the end-to-end tests spend much of their time waiting on the local runtime and the demo's process.
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n + 1 > 4 ? 4 : n + 1 )))
# The browser end-to-end test (tests/e2e/test_real_clients.py) drives Debian's Chromium with Playwright
# (Playwright's own browser downloads need the internet); apt-get runs through sudo unless we are root.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench dev synth deploy lint format schema lock clean

demo: $(STAMP)  ## replay events/ through the real handlers on the local stack
	$(BIN)/emma demo

test: $(STAMP) node_modules/.installed $(CHROMIUM)  ## lint, generated documents up to date, the whole test suite
	$(BIN)/ruff check .
	$(BIN)/emma schema --check
	$(BIN)/pytest -n $(JOBS) --dist worksteal

bench: $(STAMP)  ## benchmarks; writes bench/results.json
	$(BIN)/python -m bench.run

dev: $(STAMP)  ## serve the API on http://127.0.0.1:8787
	$(BIN)/emma dev

synth: $(STAMP) node_modules/.installed  ## cdk synth (offline, no AWS credentials needed)
	npx cdk synth --quiet

deploy: $(STAMP) node_modules/.installed  ## cdk deploy into the current AWS account
	npx cdk deploy

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(STAMP)  ## regenerate docs/canonical-event.schema.json, docs/openapi.json and docs/data-model.md
	$(BIN)/emma schema

lock: $(STAMP)  ## re-resolve the pinned dependencies
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements/dev.lock -q
	$(BIN)/uv pip compile requirements/lambda.in --python-version 3.14 \
		--python-platform aarch64-manylinux_2_28 -o requirements/lambda.lock -q --no-header

$(STAMP): requirements/dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python -q -r requirements/dev.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM):  # only when missing: Debian's package, no prompts (CI has no stdin)
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

clean:
	rm -rf $(VENV) node_modules cdk.out .cache .pytest_cache .ruff_cache
