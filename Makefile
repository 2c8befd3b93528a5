# make demo : install everything, write a sample datastore, serve it on http://127.0.0.1:8000
# make test : install everything, run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
MODELS ?=

.PHONY: install demo datastore test test-fast model clean-datastore system-packages pacs-demo

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

# Orthanc (PACS) and Chromium for the PACS / OHIF tests and make pacs-demo, from Debian (as root).
SYSTEM_FILES := /usr/sbin/Orthanc /usr/share/orthanc/plugins/libOrthancDicomWeb.so /usr/bin/chromium
system-packages:
	@for f in $(SYSTEM_FILES); do test -e $$f || missing=1; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q orthanc orthanc-dicomweb chromium; \
		else echo "missing: run as root: apt-get install orthanc orthanc-dicomweb chromium"; exit 1; fi; fi

test: install system-packages
	$(PY) -m pytest

test-fast: install system-packages
	$(PY) -m pytest -m "not slow"

# Orthanc with the sample studies as DICOM + the app on it over DICOMweb; prints the OHIF URL; Ctrl-C stops both.
pacs-demo: install system-packages
	$(PY) -m apps.radiotherapy.pacs_demo --host $(HOST) --port $(PORT) $(if $(MODELS),--models $(MODELS))

# Retrain the shipped automatic model (about 30 min on 2 CPU cores); writes models/segmentation/.
model: install
	$(PY) -m lib.segmentation.train --out models/segmentation

clean-datastore:
	rm -rf datastore
