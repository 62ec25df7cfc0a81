# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
DEMO_ENV := DEBUG=1

.PHONY: demo demo-reset test install migrate lint clean

$(STAMP): requirements.txt
	@if [ ! -x $(PY) ]; then \
	  $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	    echo "python venv is missing; installing python3-venv"; \
	    apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }; \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable

demo: export DEBUG=1
demo: migrate
	$(PY) manage.py seed_demo
	@echo
	@echo "Serving http://127.0.0.1:8000 with the task cluster beside it; Ctrl-C stops both."
	@trap 'kill $$QPID 2>/dev/null; wait $$QPID 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py qcluster & QPID=$$!; \
	  $(PY) manage.py runserver 127.0.0.1:8000 --noreload

demo-reset:
	rm -f var/portal.sqlite3 var/portal.sqlite3-wal var/portal.sqlite3-shm

test: install
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) var .pytest_cache test-artifacts
