# Two commands for readers: `make book` and `make test`. Both first create/update .venv
# from requirements.txt, the npm assets from package.json and the Debian packages.
# `make site` is what the site workflow runs (.github/workflows/book.yml); `make dist` builds
# and checks the sdist and wheel as the release workflow does (README, *Releases*).
PYTHON ?= python3
# Where pip takes torch and torchvision from, when set: on a machine without a GPU, PyTorch's
# CPU wheels (make install TORCH_INDEX=https://download.pytorch.org/whl/cpu) instead of the
# CUDA build from PyPI (~5 GB). The ranges are requirements.txt's.
TORCH_INDEX ?=
VENV   := .venv
BIN    := $(VENV)/bin
JB     := $(BIN)/jupyter-book
STAMP  := $(VENV)/.installed

.PHONY: install book test site lint dist bench report gpu-check execute clean

install: $(STAMP) node_modules/.stamp _vendor/mathjax/tex-mml-chtml.js
	@bash tools/apt_install.sh
	@$(BIN)/python tools/warm_data.py

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q --index-url $(TORCH_INDEX) $$(grep -E '^torch(vision)?[<>=!~ ]' requirements.txt))
	$(BIN)/python -m pip install -q -r requirements.txt -e . 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import torch, mmtutorial, jupyter_book, nbval, playwright, build, twine, check_jsonschema"
	@touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

_vendor/mathjax/tex-mml-chtml.js: node_modules/.stamp tools/vendor_assets.py tools/assets/mathjax-hub-shim.js
	$(BIN)/python tools/vendor_assets.py

book: install
	$(JB) build . -W -n --keep-going
	@echo "The book is in _build/html/index.html (serve it: python3 -m http.server -d _build/html)"

# The GitHub workflows, linted offline: the workflow (and Dependabot) schema, then zizmor's
# security audits (actions pinned by commit SHA, minimal token permissions, no injection).
define LINT_WORKFLOWS
$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
$(BIN)/zizmor --offline --no-progress .github/
endef

# The chapters run once: nbval checks them and tools/nbval_record.py stores the executed
# notebooks in the book's execution cache, which the build then renders without executing.
define BUILD_AND_CHECK_SITE
PYTHONPATH=tools $(BIN)/python -m pytest -q -p nbval_record --nbval-lax notebooks
$(JB) build . -W -n --keep-going
$(BIN)/python tools/exec_report.py
$(BIN)/python -m pytest -q tests -m site
endef

# Everything: the workflows, the package (tests/, with the wheel/sdist build-and-install test
# and the version test), the chapters, the strict build and the pages.
test: install
	$(LINT_WORKFLOWS)
	$(BIN)/python -m pytest -q tests -m "not site"
	$(BUILD_AND_CHECK_SITE)

# What the site needs: the book-level and version checks, the chapters, the build, the pages.
site: install
	$(BIN)/python -m pytest -q tests/test_book.py tests/test_versions.py
	$(BUILD_AND_CHECK_SITE)

lint: install
	$(LINT_WORKFLOWS)

# The sdist and the wheel, built and checked as the release workflow does, into _build/dist.
dist: install
	rm -rf _build/dist
	$(BIN)/python -m build --outdir _build/dist .
	$(BIN)/python -m twine check --strict _build/dist/*

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
