# The two set-up commands of the README: `make examples` and `make test`.
# Each builds .venv on first use, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: examples test lint gold clean system-deps

$(BIN)/infusion-coder: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@

examples: $(BIN)/infusion-coder
	@for f in $(filter-out examples/claim-header.json,$(wildcard examples/*.json)); do echo "== $$f"; $(BIN)/infusion-coder code $$f; done

lint: $(BIN)/infusion-coder
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy

# chromium and Java for the browser and Spark tests (apt-get when missing and root)
system-deps:
	@bash scripts/system-deps.sh

test: system-deps lint
	$(BIN)/pytest

gold: $(BIN)/infusion-coder
	../shared/tools/gold-check

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
