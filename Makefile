# Two commands do all set-up on a fresh machine:
#   make lab    create the course environment if it is missing, then open the course in JupyterLab
#   make test   create the course environment if it is missing, then run the full test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.stn-course-installed
PYTEST_ARGS ?=

.PHONY: lab test lint format lessons env clean-env

env: $(STAMP)

$(STAMP): pyproject.toml constraints-ci.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "the course needs Python 3.10 or newer; got " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints-ci.txt -e ".[test]"
	$(PY) -m stnlib.data fetch
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab lessons/00_welcome.ipynb

test: $(STAMP)
	bash tools/ensure_chromium.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	STNLIB_BUDGET=smoke $(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lessons: $(STAMP)
	$(PY) tools/build_lessons.py

clean-env:
	rm -rf $(VENV)
