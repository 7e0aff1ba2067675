# Two commands for readers: `make book` and `make test`. Both first create/update .venv
# from requirements.txt, the npm assets from package.json and the Debian packages.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JB     := $(BIN)/jupyter-book
STAMP  := $(VENV)/.installed

.PHONY: install book test bench report gpu-check execute clean

install: $(STAMP) node_modules/.stamp _vendor/mathjax/tex-mml-chtml.js
	@bash tools/apt_install.sh
	@$(BIN)/python tools/warm_data.py

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -m pip install -q -r requirements.txt -e . 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import torch, mmtutorial, jupyter_book, nbval, playwright"
	@touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

_vendor/mathjax/tex-mml-chtml.js: node_modules/.stamp tools/vendor_assets.py tools/assets/mathjax-hub-shim.js
	$(BIN)/python tools/vendor_assets.py

book: install
	$(JB) build . -W -n --keep-going
	@echo "The book is in _build/html/index.html (serve it: python3 -m http.server -d _build/html)"

# The chapters run once: nbval checks them and tools/nbval_record.py stores the executed
# notebooks in the book's execution cache, which the build then renders without executing.
test: install
	$(BIN)/python -m pytest -q tests -m "not site"
	PYTHONPATH=tools $(BIN)/python -m pytest -q -p nbval_record --nbval-lax notebooks
	$(JB) build . -W -n --keep-going
	$(BIN)/python tools/exec_report.py
	$(BIN)/python -m pytest -q tests -m site

report:
	$(BIN)/python tools/exec_report.py

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

gpu-check: install
	$(BIN)/python tools/gpu_check.py $(ARGS)

clean:
	rm -rf _build _vendor

# Re-execute chapters in place in fresh kernels (default: all), as they are committed.
NB ?= notebooks/*.ipynb
execute: install
	$(BIN)/python tools/execute.py $(NB)
