# make run   create the environment if needed, migrate, start the service on $PORT (default 8000)
# make test  create the environment if needed, run the whole suite
# make bench the load benchmark (not part of the tests; prints its figures)

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PORT ?= 8000
export PORT

.PHONY: run test bench check-keywords

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

test: $(BIN)/.installed
	$(BIN)/python -m pytest

check-keywords: $(BIN)/.installed
	$(BIN)/flask --app app check-keywords

bench: $(BIN)/.installed
	$(BIN)/python bench/webhook_load.py
