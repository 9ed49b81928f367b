# Two commands do everything on a fresh machine (Python 3.11, Java 17, Maven, root for apt):
#   make demo   - set up, start Kafka + Redis, run the main job
#   make test   - set up, start Kafka + Redis, ruff + the whole pytest suite
# Services stay up between runs (`make down` stops what `services up` started).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup services test lint demo down status

setup: $(STAMP)

# reinstall only when the package metadata changes
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,report]"
	@touch $(STAMP)

services: setup
	$(BIN)/stream-app services up

status: setup
	$(BIN)/stream-app services status

lint: setup
	$(BIN)/ruff check .

test: setup services lint
	$(BIN)/pytest

# the main job; until the pipeline's `stream-app demo` lands, it shows the real stack instead
demo: setup services
	@if $(BIN)/stream-app --help | grep -Eq "^ +demo +\(not implemented yet\)"; then \
		echo "make demo: 'stream-app demo' is not implemented yet; the stack it will run on:"; \
		$(BIN)/stream-app services status; \
	else \
		$(BIN)/stream-app demo; \
	fi

down:
	@if test -x $(BIN)/stream-app; then $(BIN)/stream-app services down; fi
