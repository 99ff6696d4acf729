# The README's two commands: `make demo` and `make test`. Both build the virtualenv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo serve test venv lint bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# Migrate, load the demo data and logins, then run the QBO emulator, the django-q2 worker and the web server.
demo: $(STAMP)
	DEBUG=true $(PY) bin/demo.py

# The production stack locally: gunicorn, PostgreSQL, Redis and two qcluster workers, DEBUG off (docs/operations.md).
serve: $(STAMP)
	$(PY) bin/serve.py

# The whole suite (unit, integration against the running emulator, browser journeys).
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

bench: $(STAMP)
	DEBUG=true $(PY) bench/run_all.py

clean:
	rm -rf $(VENV) db.sqlite3* staticfiles
