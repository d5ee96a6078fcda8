# Every target bootstraps .venv itself: a fresh clone needs nothing but python3 (>= 3.11) and Java 17 for Spark.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SDK_DIR := tests/browser/sdk
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: demo test bench clean browser-deps

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/footfall demo --project demo-project

test: $(STAMP) browser-deps
	$(BIN)/pytest -n 2 --dist loadgroup

# What tests/browser needs: Debian's Chromium (never a downloaded browser) and the three browser SDKs
# from the committed lock file, bundled with esbuild. Each step runs only when its output is missing.
browser-deps: /usr/bin/chromium $(SDK_DIR)/dist/sdks.js

/usr/bin/chromium:
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
	  ( $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium )

$(SDK_DIR)/dist/sdks.js: $(SDK_DIR)/package-lock.json $(SDK_DIR)/entry.js
	cd $(SDK_DIR) && npm ci --no-audit --no-fund && npm run bundle

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) demo-project .pytest_cache $(SDK_DIR)/node_modules $(SDK_DIR)/dist
