# Two commands do everything on a fresh machine:  make demo   and   make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean shellcheck

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py --out demo-output

# shellcheck lints deploy.sh (with the deploy/lib/ files it sources) and edge/install.sh; where it cannot be
# installed those checks skip.
shellcheck:
	@command -v shellcheck >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -qq shellcheck >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq shellcheck >/dev/null 2>&1; }; }; } || \
	  echo "shellcheck is not installed: the shell-script lint tests will be skipped"

test: $(STAMP) shellcheck
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/edge.py
	$(BIN)/python bench/cloud.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/setup_times.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
