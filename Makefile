# The two set-up commands of the README: `make examples` and `make test`.
# Each builds .venv on first use, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: examples test lint gold clean system-deps compiled compiled-test

$(BIN)/infusion-coder: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@

# The bundled examples as a person reads them (the JSON: .venv/bin/infusion-coder code examples/ed-visit.json)
examples: $(BIN)/infusion-coder
	@$(BIN)/infusion-coder code --format table $(filter-out examples/claim-header.json,$(wildcard examples/*.json))

lint: $(BIN)/infusion-coder
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy

# chromium and Java for the browser and Spark tests (apt-get when missing and root)
system-deps:
	@bash scripts/system-deps.sh

test: system-deps lint
	$(BIN)/pytest
	$(MAKE) compiled-test

# The optional compiled build (mypyc: engine, rules, times; setup.py) in its own venv, so .venv stays the
# pure-Python default. Not editable: rebuilt whenever a source or data file changes.
CVENV := .venv-compiled
CBIN := $(CVENV)/bin

$(CBIN)/infusion-coder: pyproject.toml setup.py $(shell find src -type f -not -path '*/__pycache__/*')
	test -x $(CBIN)/python || $(PYTHON) -m venv $(CVENV)
	$(CBIN)/pip install --quiet --upgrade pip
	$(CBIN)/pip install --quiet 'pytest>=8' 'hypothesis>=6.100'
	INFUSION_CODER_COMPILE=1 $(CBIN)/pip install --quiet .
	touch $@

compiled: $(CBIN)/infusion-coder
	$(CBIN)/infusion-coder version

# Proof that the compiled build codes exactly as the pure one: the committed output digest, the rule
# fixtures and the gold cases, run against the compiled modules (tests/test_compiled.py checks they are).
# Skipped, saying so, where no C compiler is installed.
compiled-test:
	@if command -v $${CC:-cc} >/dev/null 2>&1; then \
		$(MAKE) $(CBIN)/infusion-coder && \
		$(CBIN)/python -m pytest -p no:cacheprovider tests/test_compiled.py tests/test_equivalence.py \
			tests/test_rule_cases.py tests/test_gold.py tests/test_output.py; \
	else echo "compiled-test SKIPPED: no C compiler (cc) to build the optional mypyc build"; fi

gold: $(BIN)/infusion-coder
	../shared/tools/gold-check

clean:
	rm -rf $(VENV) $(CVENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
