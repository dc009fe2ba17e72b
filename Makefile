# Tickerdesk: `make run` serves the app with the embedded defaults; `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-test migrate seed bench assets translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes, so a second `make run` is fast.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

migrate: install
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) universe seed

# The web server and, next to it, the Celery worker with its embedded beat (README "Background jobs");
# the trap stops the worker whenever `flask run` ends: SIGTERM (a warm shutdown, beat included), and
# SIGQUIT (cold: a long scores run is cut short; the next run redoes it) if it is still busy after 10 s.
WORKER := $(BIN)/celery -A wsgi:celery worker -B --pool threads --concurrency 2 --loglevel INFO

run: seed
	@$(WORKER) & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; i=0; while kill -0 $$worker 2>/dev/null && [ $$i -lt 50 ]; \
	      do sleep 0.2; i=$$((i+1)); done; kill -QUIT $$worker 2>/dev/null; wait $$worker' EXIT; \
	trap 'exit 130' INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python -m bench

# Refresh the vendored front-end libraries in static/vendor from the npm registry.
assets:
	npm install --no-audit --no-fund --prefix build/assets $$(cat static/vendor/PACKAGES)
	sh static/vendor/copy.sh build/assets/node_modules static/vendor

# Gather the pages' texts into translations/messages.pot, update the German catalogue, compile it (.mo, committed).
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i translations/messages.pot -d translations -l de --no-fuzzy-matching
	$(BIN)/pybabel compile -d translations -l de --statistics

clean:
	rm -rf $(VENV) build *.egg-info
