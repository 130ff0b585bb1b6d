# Two commands are all a fresh clone needs:
#   make run    evaluate the reference face model (and any trained model) on LFW View 2
#   make test   run the whole test suite
# Both create .venv/ inside the clone on first use.
PY := .venv/bin/python
STAMP := .venv/.installed

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m facelib evaluate --onnx reference --pairs view2

test: $(STAMP)
	$(PY) -m pytest -q

.PHONY: install run test
