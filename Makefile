# make demo : install everything, write a sample datastore, serve it on http://127.0.0.1:8000
# make test : install everything, run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
MODELS ?=

.PHONY: install demo datastore test test-fast model clean-datastore

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

datastore/.complete: | $(STAMP)
	$(PY) -m lib.phantom.datastore --out datastore --cases 8 --labelled 4
	touch $@

datastore: datastore/.complete

demo: install datastore
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" monailabel start_server --app apps/radiotherapy --studies datastore \
		--host $(HOST) --port $(PORT) $(if $(MODELS),--conf models $(MODELS))

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

# Retrain the shipped automatic model (about 30 min on 2 CPU cores); writes models/segmentation/.
model: install
	$(PY) -m lib.segmentation.train --out models/segmentation

clean-datastore:
	rm -rf datastore
