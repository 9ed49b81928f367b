# Two commands do everything on a fresh machine (Python 3.11, Java 17, Maven, root for apt):
#   make demo   - set up, start Kafka + Redis, run the main job
#   make test   - set up, start Kafka + Redis, ruff + the whole pytest suite (Python 3.11), then
#                 the unit tests under every other supported Python the machine has
# Services stay up between runs (`make down` stops what `services up` started).

SHELL := /bin/bash
PYTHON ?= python3.11
# the other supported versions: unit tests + doctests, each in .venv-X.Y (`make unit-pythons`)
EXTRA_PYTHONS ?= 3.12 3.13
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup services test lint demo down status unit-pythons

setup: $(STAMP)

# reinstall only when the package metadata changes
$(STAMP): pyproject.toml
	@# a venv without pip (e.g. a failed `venv` without python3.11-venv) is rebuilt, not reused
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) \
	    && $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip --version >/dev/null; } \
	    || { rm -rf $(VENV); echo "make: cannot create $(VENV) with $(PYTHON)" \
	        "(on Debian/Ubuntu: apt-get install python3.11-venv)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,report]"
	@touch $(STAMP)

services: setup
	$(BIN)/stream-app services up

status: setup
	$(BIN)/stream-app services status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup services lint
	$(BIN)/pytest
	.ci/unit-pythons $(EXTRA_PYTHONS)

# unit tests under each of EXTRA_PYTHONS found on the machine (a missing one is skipped with a
# notice, a failing one fails); no services needed
unit-pythons:
	.ci/unit-pythons $(EXTRA_PYTHONS)

# the main job: build from the bundled sample, start a worker, replay the last orders, show the
# answers before / during / after (stream-app demo --help)
demo: setup services
	$(BIN)/stream-app demo

down:
	@if test -x $(BIN)/stream-app; then $(BIN)/stream-app services down; fi
