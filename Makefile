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

# Stamps are named after a hash of the files that define the install, so a second run with nothing
# changed skips the installs, and any edit to a requirement file re-installs.
PY_HASH := $(shell cat requirements.txt requirements-dev.txt 2>/dev/null | sha256sum | cut -c1-16)
NPM_HASH := $(shell cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
PY_STAMP := $(STAMPS)/python-$(PY_HASH)
NPM_STAMP := $(STAMPS)/npm-$(NPM_HASH)

.PHONY: all install synth scan test lint typecheck unit deploy deploy-local local bench wheel docs clean distclean

all: synth

$(PY_STAMP):
	@mkdir -p $(STAMPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(PY) -m pip install --quiet -r requirements-dev.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
	@rm -f $(STAMPS)/python-* && touch $@

$(NPM_STAMP):
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@rm -f $(STAMPS)/npm-* && touch $@

install: $(PY_STAMP) $(NPM_STAMP)

## synth: synthesize every example stack with all five cdk-nag packs, then summarize cdk.out
synth: install
	npx cdk synth --quiet --no-notices
	@$(PY) -m lambda_manifest.assembly cdk.out

# Checkov gets a venv of its own: its dependency pins (boto3 among them) conflict with requirements.txt.
SCAN_VENV := .venv-scan
SCAN_HASH := $(shell cat requirements-scan.txt 2>/dev/null | sha256sum | cut -c1-16)
SCAN_STAMP := $(STAMPS)/scan-$(SCAN_HASH)

$(SCAN_STAMP):
	@mkdir -p $(STAMPS)
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(SCAN_VENV)/bin/python -m pip install --quiet -r requirements-scan.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
	@rm -f $(STAMPS)/scan-* && touch $@

## scan: synthesize, then Checkov over every template in cdk.out; fails on any failed check
scan: synth $(SCAN_STAMP)
	$(SCAN_VENV)/bin/checkov -d cdk.out --framework cloudformation --quiet --compact --skip-download

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy lambda_manifest
	$(VENV)/bin/mypy --python-version 3.14 lambda_manifest/runtime/gateway lambda_manifest/runtime/stream
	$(VENV)/bin/mypy app.py stacks

unit: install
	$(PY) -m pytest -n 2 --dist loadgroup -q

## test: lint, type-check, the whole pytest suite and the Checkov scan (CI runs this)
test: lint typecheck scan unit

deploy: install
	npx cdk deploy --all --no-notices

## local: run every example stack on localhost (moto, local API Gateway, Lambda worker processes); Ctrl-C stops all
local: install
	$(PY) -m lambda_manifest.local $(LOCAL_ARGS)

## deploy-local: rehearse `cdk bootstrap` + `cdk deploy --all` against a moto server on localhost (fake account)
deploy-local: install
	$(PY) -m lambda_manifest.local.rehearse

bench: install
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

## docs: regenerate the README's defaults reference from lambda_manifest/_defaults.py
docs: install
	$(PY) -c 'from lambda_manifest import _defaults; print("README.md updated" if _defaults.update_readme() else "README.md up to date")'

wheel: install
	$(PY) -m build --wheel --outdir dist .

clean:
	rm -rf cdk.out dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -not -path './node_modules/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(SCAN_VENV) node_modules $(STAMPS)
