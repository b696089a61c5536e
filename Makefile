# lambda-manifest: `make synth` (the main job) and `make test`; both install what they need first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export NODE_NO_WARNINGS := 1

# Python installs go through uv (about ten times faster than pip here). A uv on PATH is not used: the
# pinned one is installed with the system pip into .stamps/ once, so a fresh machine needs only Python.
UV_VERSION := 0.13.9
UV_HOME := $(STAMPS)/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
# uv reads the system's CA store (these machines reach PyPI through a proxy with its own CA); the uv cache
# and the venvs share a file system here, so packages are hard-linked, not copied.
export UV_NATIVE_TLS := 1
export UV_PYTHON_DOWNLOADS := never

# Bytecode: packages are not compiled at install (aws-cdk-lib alone is 183 MB of .py, of which a test run
# imports a small part). Python compiles each module on first import instead and keeps the result under
# .venv/pycache, so the source tree and site-packages stay free of __pycache__ folders. Benchmarks that
# measure imports set their own environment (no writable cache, as on Lambda).
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache
unexport PYTHONDONTWRITEBYTECODE

# The Lambda runtime's Python (3.14): the second test lane and the compiler of shipped bytecode. Found as
# $(PYTHON314) when set, else python3.14 on PATH, else ../shared/runtimes/install-python3.14 when the
# shared folder is beside the repo. Its venv (.venv-3.14) holds the same requirements.
VENV314 := .venv-3.14
PY314 := $(VENV314)/bin/python
SHARED_PY314 := $(abspath $(CURDIR)/../shared/runtimes/install-python3.14)
# Recipes that synthesize or run handlers get the 3.14 venv's interpreter (when it exists) as
# LM_PYTHON3_14: synth compiles bytecode with it and the local runner runs python3.14 functions on it.
WITH314 = LM_PYTHON3_14="$$(if [ -x $(PY314) ]; then echo $(CURDIR)/$(PY314); else echo "$${LM_PYTHON3_14:-}"; fi)"

# Stamps are named after a hash of the files that define the install, so a second run with nothing
# changed skips the installs, and any edit to a requirement file re-installs.
PY_HASH := $(shell cat requirements.txt requirements-dev.txt 2>/dev/null | sha256sum | cut -c1-16)
NPM_HASH := $(shell cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
PY_STAMP := $(STAMPS)/python-$(PY_HASH)
PY314_STAMP := $(STAMPS)/python3.14-$(PY_HASH)
NPM_STAMP := $(STAMPS)/npm-$(NPM_HASH)

.PHONY: all install install-3.14 synth scan test lint typecheck unit unit-3.14 deploy deploy-local local \
	bench wheel docs clean distclean

all: synth

$(UV):
	@mkdir -p $(STAMPS)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(UV_HOME) uv==$(UV_VERSION) 2>&1 \
		| { grep -v -e "is ignored: it is neither" -e "Running pip as the 'root' user" || true; }

$(PY_STAMP): | $(UV)
	@test -x $(PY) || $(UV) venv --quiet --seed --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(PY) -r requirements-dev.txt
	@rm -f $(STAMPS)/python-* && touch $@

# Runs the three ways of finding a 3.14 in turn; without one the lane is skipped (and says so at test time).
$(PY314_STAMP): | $(UV)
	@interpreter="$${PYTHON314:-}"; \
	if [ -z "$$interpreter" ]; then interpreter=$$(command -v python3.14 || true); fi; \
	if [ -z "$$interpreter" ] && [ -x "$(SHARED_PY314)" ]; then interpreter=$$("$(SHARED_PY314)"); fi; \
	if [ -z "$$interpreter" ]; then \
		echo "no Python 3.14 found (PYTHON314, python3.14 on PATH, ../shared/runtimes): the 3.14 lane will be skipped"; \
		exit 0; \
	fi; \
	echo "Python 3.14 lane: $$interpreter"; \
	test -x $(PY314) || $(UV) venv --quiet --seed --allow-existing --python "$$interpreter" $(VENV314); \
	$(UV) pip install --quiet --python $(PY314) -r requirements-dev.txt; \
	rm -f $(STAMPS)/python3.14-* && touch $@

$(NPM_STAMP):
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@rm -f $(STAMPS)/npm-* && touch $@

install: $(PY_STAMP) $(PY314_STAMP) $(NPM_STAMP)

install-3.14: $(PY314_STAMP)

## synth: synthesize every example stack with all five cdk-nag packs, then summarize cdk.out
synth: install
	$(WITH314) npx cdk synth --quiet --no-notices
	@$(PY) -m lambda_manifest.assembly cdk.out

# Checkov gets a venv of its own: its dependency pins (boto3 among them) conflict with requirements.txt.
SCAN_VENV := .venv-scan
SCAN_HASH := $(shell cat requirements-scan.txt 2>/dev/null | sha256sum | cut -c1-16)
SCAN_STAMP := $(STAMPS)/scan-$(SCAN_HASH)

$(SCAN_STAMP): | $(UV)
	@test -x $(SCAN_VENV)/bin/python || $(UV) venv --quiet --allow-existing --python $(PYTHON) $(SCAN_VENV)
	$(UV) pip install --quiet --python $(SCAN_VENV)/bin/python -r requirements-scan.txt
	@rm -f $(STAMPS)/scan-* && touch $@

## scan: synthesize, then Checkov over every template in cdk.out; fails on any failed check
scan: synth $(SCAN_STAMP)
	$(SCAN_VENV)/bin/checkov -d cdk.out --framework cloudformation --quiet --compact --skip-download

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy lambda_manifest
	$(VENV)/bin/mypy --python-version 3.14 lambda_manifest/runtime/__init__.py lambda_manifest/runtime/aws.py \
		lambda_manifest/runtime/worker lambda_manifest/runtime/http lambda_manifest/runtime/authorizer \
		lambda_manifest/runtime/gateway lambda_manifest/runtime/stream lambda_manifest/runtime/mcp
	$(VENV)/bin/mypy app.py stacks

unit: install
	$(WITH314) $(PY) -m pytest -n 2 --dist loadgroup -q

## unit-3.14: the handler, runtime and end-to-end tests again on Python 3.14, the Lambda runtime's version
unit-3.14: install
	@if [ ! -x $(PY314) ]; then \
		echo "SKIPPED: the Python 3.14 lane (no Python 3.14: set PYTHON314, put python3.14 on PATH, or"; \
		echo "         place the shared runtimes folder beside the repo). Handlers were tested on $$($(PY) -V) only."; \
		exit 0; \
	fi; \
	echo "== Python 3.14 lane: $$($(PY314) -V)"; \
	$(WITH314) $(PY314) -m pytest -n 2 --dist loadgroup -q tests/handlers tests/e2e

## test: lint, type-check, the Checkov scan, the whole pytest suite, then the handler/runtime/e2e tests on
## Python 3.14 (CI runs this)
test: lint typecheck scan unit unit-3.14

deploy: install
	$(WITH314) npx cdk deploy --all --no-notices

## local: run every example stack on localhost (moto, local API Gateway, Lambda worker processes); Ctrl-C stops all
local: install
	$(WITH314) $(PY) -m lambda_manifest.local $(LOCAL_ARGS)

## deploy-local: rehearse `cdk bootstrap` + `cdk deploy --all` against a moto server on localhost (fake account)
deploy-local: install
	$(WITH314) $(PY) -m lambda_manifest.local.rehearse

bench: install
	@for f in bench/bench_*.py; do echo "== $$f"; $(WITH314) $(PY) $$f || exit 1; done

## docs: regenerate the defaults tables of the construct reference (docs/constructs/) from lambda_manifest/_defaults.py
docs: install
	$(PY) -c 'from lambda_manifest import _defaults; print(", ".join(_defaults.update_docs()) or "docs/constructs up to date")'

wheel: install
	$(WITH314) $(PY) -m build --wheel --outdir dist .

clean:
	rm -rf cdk.out dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -not -path './node_modules/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(VENV314) $(SCAN_VENV) node_modules $(STAMPS)
