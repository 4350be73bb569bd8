# Meterline — `make run` starts everything, `make test` runs the suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# First interpreter that is Python 3.12+: PYTHON if given, then PATH, then pyenv's versions.
PYTHON ?= $(shell for p in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 /root/.pyenv/versions/3.13*/bin/python3 /root/.pyenv/versions/3.12*/bin/python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)

.PHONY: run test install migrate demo lint bench clean

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "Meterline needs Python 3.12 or newer (Django 6). Install it (e.g. 'pyenv install 3.12' or 'apt install python3.12') and run make again, or pass PYTHON=/path/to/python3.12." >&2; exit 1; fi
	@echo "Using $(PYTHON) ($$($(PYTHON) --version))"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo
	$(PY) manage.py ensure_demo_superuser

run: demo
	@echo "Meterline: admin at http://127.0.0.1:8000/admin/  API docs at http://127.0.0.1:8000/api/v1/docs/  (Ctrl-C stops web, worker and beat)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho -f Procfile.dev start

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var staticfiles
