# make run   create the environment if needed, migrate, start the service on $PORT (default 8000)
# make test  create the environment if needed, run the whole suite
# make bench the load benchmark (not part of the tests; prints its figures)

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PORT ?= 8000
export PORT

.PHONY: run test browser bench check-keywords

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The web and worker commands are the Procfile's, so what runs here is what runs in production.
# The mail worker stops when the web server does.
run: $(BIN)/.installed
	$(BIN)/flask --app app migrate
	PATH="$(CURDIR)/$(BIN):$$PATH" sh -c 'sh -c "exec $$(sed -n "s/^worker: *//p" Procfile)" & worker=$$!; \
		trap "kill $$worker 2>/dev/null" EXIT; sh -c "exec $$(sed -n "s/^web: *//p" Procfile)"'

test: $(BIN)/.installed browser
	$(BIN)/python -m pytest

# The browser tests drive Debian's chromium; installed here when this runs as root with apt-get
# (as in CI), otherwise those tests skip and say how to install it.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else echo "browser tests will be skipped: apt-get install -y chromium chromium-driver"; fi; \
	fi

check-keywords: $(BIN)/.installed
	$(BIN)/flask --app app check-keywords

bench: $(BIN)/.installed
	$(BIN)/python bench/webhook_load.py
