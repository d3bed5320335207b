# Two commands for a new user: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_WORKERS ?= auto
export DEBUG ?= 1

.PHONY: demo test lint format check bench clean lock sysdeps

# Installs only what requirements/*.txt lock, by hash: the build tools first, then every
# dependency (extras dev, bench and erp included), then the project itself without resolving
# anything again. `make lock` rewrites the lock after a change to pyproject.toml.
$(VENV)/.installed: pyproject.toml requirements/build.txt requirements/lock.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/build.txt
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

## lock: re-resolve requirements/*.txt from pyproject.toml (hashes for every file)
lock:
	@test -x $(VENV)/lock/bin/pip-compile || ($(PYTHON) -m venv $(VENV)/lock && $(VENV)/lock/bin/pip install --quiet pip-tools)
	$(VENV)/lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		-o requirements/build.txt requirements/build.in
	$(VENV)/lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--extra dev --extra bench --extra erp -o requirements/lock.txt pyproject.toml

# Debian packages the tests and the demo use: Chromium for the browser tests, Graphviz for
# lifecycle and genealogy pictures, Mosquitto for the MQTT transport. Installed only when
# missing (apt-get needs root, as on the CI and development machines).
SYSDEPS := /usr/bin/chromium:chromium /usr/bin/dot:graphviz /usr/sbin/mosquitto:mosquitto
sysdeps:
	@missing=""; for pair in $(SYSDEPS); do test -x "$${pair%%:*}" || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

## demo: SQLite + filesystem broker unless DATABASE_URL / REDIS_URL are set
## (DEMO_ARGS: options of `manage.py demo`, e.g. DEMO_ARGS="--port 8010 --no-mqtt")
demo: sysdeps $(VENV)/.installed
	$(PY) manage.py demo $(DEMO_ARGS)

## test: PostgreSQL and Redis on localhost when they answer, SQLite otherwise
test: sysdeps $(VENV)/.installed
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
