# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test test-windows wheelhouse wheelhouse-check lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[test]'
	sh tools/ensure-chromium.sh
	sh tools/ensure-kerberos.sh $(PY)
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(PY) -m scanner demo

lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: lint
	$(VENV)/bin/pytest -q

# The suite (less browser and Kerberos tests) on Windows CPython 3.13, python.org's build, under wine.
test-windows: | $(VENV)/bin/python
	sh tools/ensure-wine.sh
	$(PY) tools/windows_python.py test

# dist/wheelhouse/: every wheel cmaudit[keyring] needs on Windows x64 and Linux x86_64, CPython 3.11 to 3.13;
# wheelhouse-check installs from it with --no-index (Linux venvs, and Windows CPython 3.11 and 3.13 under wine).
wheelhouse: | $(VENV)/bin/python
	$(PY) tools/wheelhouse.py build

wheelhouse-check: wheelhouse
	sh tools/ensure-wine.sh
	$(PY) tools/wheelhouse.py check

bench: $(STAMP_TEST)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .windows
