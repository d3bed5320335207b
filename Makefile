# Two commands for a new user: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_WORKERS ?= auto
export DEBUG ?= 1

.PHONY: demo test lint format check bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $@

## demo: SQLite + filesystem broker unless DATABASE_URL / REDIS_URL are set
demo: $(VENV)/.installed
	$(PY) manage.py demo

## test: PostgreSQL and Redis on localhost when they answer, SQLite otherwise
test: $(VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

check: $(VENV)/.installed
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: $(VENV)/.installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
