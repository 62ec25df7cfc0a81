# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
VAR_DIR := $(or $(PORTAL_VAR_DIR),var)
DEMO_ADDR ?= 127.0.0.1:8000

# BROWSER=1 also installs Chromium for the browser tests (.ci/run sets it).
PACKAGE_GROUPS := run test $(if $(BROWSER),browser)

.PHONY: demo demo-code demo-reset test install system-packages migrate lint clean

# The Debian packages of system-packages.txt; nothing to do when they are present.
system-packages:
	@bin/system-packages $(PACKAGE_GROUPS)

$(STAMP): requirements.txt | system-packages
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	@mkdir -p $(VAR_DIR)
	@$(PY) manage.py migrate --noinput $(MIGRATE_FLAGS)
	@$(PY) manage.py createcachetable

# The demo's console: the logins, a customer link, the URLs; warnings and errors only.
demo: export DEBUG=1
demo: export PORTAL_BASE_URL=http://$(DEMO_ADDR)
demo: export LOG_LEVEL ?= WARNING
demo: MIGRATE_FLAGS = --verbosity 0
demo: migrate
	@$(PY) manage.py seed_demo
	@$(PY) manage.py serve_demo $(DEMO_ADDR)

# The current two-factor code of a demo staff account: make demo-code EMAIL=ops@demo.example
demo-code: export DEBUG=1
demo-code: install
	@$(PY) manage.py demo_totp_code $(EMAIL)

demo-reset:
	rm -f $(VAR_DIR)/portal.sqlite3 $(VAR_DIR)/portal.sqlite3-wal $(VAR_DIR)/portal.sqlite3-shm

test: install
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache test-artifacts
