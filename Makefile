# Async Agents Lab. The two commands of the README:
#   make lab    create the environment (first time only) and open JupyterLab on notebooks/
#   make test   run the whole test suite: unit tests, every notebook under nbval, lint,
#               and every notebook in a real JupyterLab in headless Chromium
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
          --nbval-cell-timeout=120

.PHONY: setup lab test test-fast bench sync notebooks environment student html clean grade

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, this is " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	touch $@

setup: $(BIN)/.installed

# make lab opens notebook 00. As root (a container), JupyterLab needs --allow-root: given only
# then, decided when make runs. binder/jupyterlab-settings/overrides.json turns off the news
# prompt (the hub gets the same file from binder/postBuild).
LAB_FLAGS = --LabApp.app_settings_dir=$(CURDIR)/binder/jupyterlab-settings \
            $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
lab: setup
	$(BIN)/jupyter lab $(LAB_FLAGS) notebooks/00_start_here.ipynb

classroom: setup  ## load test: 3, then 5 learners run each notebook at once, each in a fresh kernel
	$(BIN)/python tools/classroom.py --learners 3 5

test: setup
	$(BIN)/python -m pytest tests notebooks $(NBVAL)

test-fast: setup  ## everything but the browser
	$(BIN)/python -m pytest tests notebooks $(NBVAL) --ignore=tests/browser

bench: setup  ## the instruments' costs and fidelity, as a table with the goals beside them
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py

sync: setup  ## sync each notebook with its text source notebooks/NN_name.md (the newer file wins)
	$(BIN)/jupytext --sync --quiet notebooks/[0-9][0-9]*_*.md notebooks/*.ipynb

notebooks: sync  ## after editing a .md: sync, then re-execute and save every notebook
	$(BIN)/python tools/execute_notebooks.py

student: setup  ## the notebooks without solutions or outputs, in student/
	$(BIN)/python tools/student_edition.py

html: setup  ## every notebook as a static page, with index.html and INSTRUCTOR.html, in _site/
	$(BIN)/python tools/export_html.py

grade: setup  ## grade the learners' notebooks in SUBMISSIONS=DIR: writes DIR/grades.csv and DIR/grades.html
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [GRADE_ARGS='--cell-timeout 60 --notebook-timeout 300 --memory-mb 4096']"; exit 2; }
	$(BIN)/python -m asynclab.grade "$(SUBMISSIONS)" $(GRADE_ARGS)

environment: setup  ## regenerate environment.yml from pyproject.toml
	$(BIN)/python tools/sync_environment.py

clean:
	rm -rf $(VENV) .venv-* artifacts student _site
