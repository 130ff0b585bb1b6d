# Two commands are all a fresh clone needs:
#   make run    the dashboard (streamlit run dashboard/app.py)
#   make test   run the whole test suite
# Both create .venv/ inside the clone on first use.
PY := .venv/bin/python
STAMP := .venv/.installed

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run dashboard/app.py

test: $(STAMP)
	$(PY) -m pytest -q

.PHONY: install run test
