# Each target creates the virtual environment on first use and installs only what it needs:
# `make demo` the package alone, `make test` the dev and notebook extras. One stamp per set of
# extras (.venv/.installed-<extras>), so a target that needs another extra (e.g. a notebook
# target: $(call installed,notebook)) adds only that.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CFG    := $(VENV)/pyvenv.cfg
comma  := ,
# The stamp of an installed set of extras: $(call installed,dev+notebook); `base` = none.
installed = $(VENV)/.installed-$(1)

.PHONY: demo test lint typecheck docs pytest instants bench soak notebook workshop clean

MINUTES ?= 30

# A .venv left by a failed first run (made by a Python older than 3.11, or without pip because
# the venv module was incomplete) is rebuilt instead of reused.
ifneq ($(wildcard $(VENV)),)
VENV_OK := $(shell $(BIN)/python -c 'import sys, pip; sys.exit(sys.version_info < (3, 11))' \
                   >/dev/null 2>&1 && echo yes)
ifneq ($(VENV_OK),yes)
$(info make: $(VENV) is unusable (no Python 3.11+ with pip in it); rebuilding it)
$(shell rm -rf $(VENV))
endif
endif

$(CFG):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make: $(PYTHON) is not Python 3.11 or newer; run e.g. make PYTHON=python3.11 $(MAKECMDGOALS)" >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "make: could not create $(VENV) (on Debian/Ubuntu: apt-get install python3-venv)" >&2; \
	  exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the project metadata changes; a failed install leaves no stamp.
$(VENV)/.installed-%: pyproject.toml | $(CFG)
	$(BIN)/python -m pip install --quiet -e "$(if $(filter base,$*),.,.[$(subst +,$(comma),$*)])"
	touch $@

demo: $(call installed,base)
	$(BIN)/cronofy-avail demo

test: $(call installed,dev+notebook+postgres) lint typecheck docs pytest instants

lint: $(call installed,dev+notebook+postgres)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(call installed,dev+notebook+postgres)
	$(BIN)/mypy

# The documentation site (mkdocs.yml), strict: a broken link or anchor, or a page missing from
# the nav, fails. Built into site/ (git-ignored); nothing is fetched from the network. (The
# variable silences Material's banner about MkDocs 2.)
docs: $(call installed,dev+notebook+postgres)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

pytest: $(call installed,dev+notebook+postgres)
	$(BIN)/python -m pytest --durations=20

# The tests that touch dates, again at a Sunday night, the daylight-saving changes, New Year's
# Eve, a leap day and a year on (tests/support/instants.py; needs Debian's faketime).
instants: $(call installed,dev+notebook+postgres)
	$(BIN)/python -m tests.support.instants

bench: $(call installed,dev+notebook+postgres)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# JupyterLab on notebooks/ (the environment carries the notebook extra).
notebook: $(call installed,notebook)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# The instructor's emulator for a workshop (docs/how-to/workshop.md).
workshop: $(call installed,base)
	$(BIN)/cronofy-avail workshop

# A long soak (the suite runs a short one): make soak MINUTES=30
soak: $(call installed,dev+notebook+postgres)
	$(BIN)/python -m tests.soak.soak --minutes $(MINUTES)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist site *.egg-info
