# Two commands for a newcomer: `make local` and `make test`. Each builds .venv first if needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQS := requirements.txt requirements-dev.txt function/requirements.txt training/requirements.txt

.PHONY: local test bench train clean

$(VENV)/.installed: $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## Train if needed, start the local API, predict the held-out batch over HTTP, print accuracy.
local: $(VENV)/.installed
	$(PY) -m function.local --once

## The whole test suite.
test: $(VENV)/.installed
	$(PY) -m pytest

## Reference vs project, side by side (writes bench/results/).
bench: $(VENV)/.installed
	$(PY) -m bench

train: $(VENV)/.installed
	$(PY) -m training

clean:
	rm -rf $(VENV) function/model artifacts .pytest_cache
