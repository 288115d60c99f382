# netweave: everything a fresh machine needs is done here (CI runs `make test` through .ci/run).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CNI_PLUGINS := /usr/lib/cni

.PHONY: setup plugins shim test check run lint-demo bench clean

setup: $(VENV)/.installed plugins shim

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The real CNI plugins the node tests run (Debian's containernetworking-plugins).
plugins:
	@test -x $(CNI_PLUGINS)/bridge || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containernetworking-plugins iproute2; }

# The static CNI shim the runtime execs (docs/shim-protocol.md): gcc -static, no runtime dependency on the host.
SHIM := cni/shim-static/netweave-shim
shim: $(SHIM)

$(SHIM): cni/shim-static/netweave-shim.c
	@command -v gcc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential; }
	gcc -static -Os -s -std=gnu11 -Wall -Wextra -Werror -Wno-format-truncation -o $@.tmp.$$$$ $< && mv -f $@.tmp.$$$$ $@

check: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: check
	$(BIN)/pytest

run: $(VENV)/.installed
	$(BIN)/netweave serve --listen 127.0.0.1:8443 --catalog deploy/examples/nads

# The examples hold two pods that admission denies: exit code 1 is the expected outcome.
lint-demo: $(VENV)/.installed
	$(BIN)/netweave lint --show-mutations --nads deploy/examples/nads deploy/examples/pods; test $$? -eq 1

bench: setup
	$(BIN)/python benchmarks/lint_throughput.py
	$(BIN)/python benchmarks/webhook_load.py
	$(BIN)/python benchmarks/cni_attach.py -n 50
	$(BIN)/python benchmarks/cni_shim.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .dev-certs
