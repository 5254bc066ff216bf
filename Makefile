# The course's commands. `make lab` (set up, then JupyterLab) and `make test` (every test)
# are the README's two commands; every target that runs code starts with `setup`.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.setup-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
# Fail loudly when pytest collects nothing (exit 5), so a run never passes vacuously.
STRICT = rc=0; $(1) || rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; fi; exit $$rc

.PHONY: setup lab notebooks site exercises header test test-lib test-widgets7 test-notebooks test-notebooks-fast lint format bench lock clean

setup: $(STAMP)

# Rebuilt only when the lock or the package metadata changes: a second `make setup` is instant.
$(STAMP): requirements-lock.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -c "import lessons_lib, ipywidgets; print('lessons_lib', lessons_lib.__version__, '| ipywidgets', ipywidgets.__version__)"
	$(BIN)/jupyter labextension list 2>&1 | grep -q "@jupyter-widgets/jupyterlab-manager.*enabled" \
		|| { echo "the ipywidgets JupyterLab extension is missing"; exit 1; }
	@touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab notebooks/

# Executes every notebook in full mode; executed copies and HTML go to build/ (ignored by git).
# Widget state is not stored, so the HTML shows each widget's PNG and needs no JavaScript.
notebooks: setup
	mkdir -p build/notebooks
	$(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=3600 \
		--ExecutePreprocessor.store_widget_state=False \
		--output-dir build/notebooks $(NOTEBOOKS)
	$(BIN)/jupyter nbconvert --to html --output-dir build/html build/notebooks/*.ipynb

# A static course site over the executed notebooks (widgets show their PNG fallbacks).
site: notebooks
	$(PY) tools/course.py site

# The learner's version of every notebook, solutions replaced by stubs, in build/exercises/.
exercises: setup
	$(PY) tools/course.py exercises

# Binder and Colab badges and the Colab install cell, from pyproject's Repository URL.
header: setup
	$(PY) tools/course.py header

test: setup lint test-lib test-widgets7 test-notebooks

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-lib: setup
	@$(call STRICT,OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -q tests)

# Colab ships ipywidgets 7.7: the widget tests run again with it shadowing 8.x.
IPYW7 := build/ipywidgets7
test-widgets7: setup
	@test -d $(IPYW7)/ipywidgets || $(PY) -m pip install --quiet --disable-pip-version-check \
		--no-deps --target $(IPYW7) ipywidgets==7.7.5 ipython_genutils==0.2.0 \
		widgetsnbextension==3.6.10 jupyterlab_widgets==1.1.11
	@$(call STRICT,PYTHONPATH=$(IPYW7) OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider \
		-W ignore::DeprecationWarning tests/test_widgets.py \
		&& PYTHONPATH=$(IPYW7) $(PY) -c "import ipywidgets as w; assert w.__version__ == '7.7.5'")

# Full mode: the run a learner makes, so every claim a notebook asserts is checked as learners
# see it. One thread per notebook, two notebooks at a time (CI has 2 cores).
NBVAL = $(PY) -m pytest -q --nbval-lax --nbval-current-env -n 2 --dist loadfile -p no:randomly
test-notebooks: setup
	@$(call STRICT,OMP_NUM_THREADS=1 $(NBVAL) notebooks)

# The fast preview (LESSONS_FAST=1): every cell runs, but the full-mode claims are not checked.
test-notebooks-fast: setup
	@$(call STRICT,LESSONS_FAST=1 OMP_NUM_THREADS=1 $(NBVAL) notebooks)

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/nbstripout --keep-id $(NOTEBOOKS)  # --keep-id: cell ids stay stable across edits

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lock: setup
	@echo "# Exact versions CI uses (pip freeze of \`make setup\`, Python 3.11). Regenerate with \`make lock\`." > requirements-lock.txt
	@echo "# torch is pinned to 2.13.0: on the course machines pip takes a local CPU wheel for it." >> requirements-lock.txt
	$(PY) -m pip freeze --exclude-editable | grep -v '^lessons' | sed 's/^torch==\(.*\)+cpu/torch==\1/' >> requirements-lock.txt

clean:
	rm -rf build .pytest_cache .ruff_cache
