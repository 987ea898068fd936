# Two commands set everything up: `make book` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
# requirements.lock pins the versions for Python 3.11; use it when it is installed.
PYTHON ?= $(or $(shell command -v python3.11 2>/dev/null),python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(BIN):$(PATH)

.PHONY: book test test-site test-latest lock lab check precompile learner benchmark clean

# The environment is installed from requirements.lock: the exact versions the book was built and
# checked with. `make lock` rewrites the lock after pyproject.toml changed (keeping every pin that
# still fits); `make lock UPGRADE=1` moves every pin to the newest allowed version.
# uv (pinned in the lock, installed by pip) does the installing: from empty caches on 2 cores,
# pip took 140-195 s, uv 48 s (compiling every module to bytecode, on both cores). Where uv
# cannot reach the index (it reads no pip.conf), pip installs the same lock.
LOCK := requirements.lock
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep -m 1 '^uv==' $(LOCK))"
	$(UV) --compile-bytecode -r $(LOCK) && $(UV) --no-deps -e . || { \
		echo "uv could not install $(LOCK); installing it with pip instead (a few minutes)"; \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet -r $(LOCK) && \
		$(BIN)/python -m pip install --quiet --no-deps -e .; }
	@touch $(STAMP)

# Needs only uv (from the [test] extra); installing the old lock first would be wasted work.
lock:  ## Rewrite requirements.lock from pyproject.toml (all extras); UPGRADE=1 for the newest versions
	@test -x $(BIN)/uv || $(MAKE) $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --all-extras --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu $(if $(UPGRADE),--upgrade) \
		--custom-compile-command 'make lock' -o $(LOCK)

# Chapters are executed once per change: `make test` stores each chapter that nbval ran and
# passed, with its outputs, in the book's execution cache (conftest.py), and the book renders
# those (myst-nb `execute_notebooks: cache`); a chapter missing from the cache, or whose code
# changed, is executed by the build. A change to the package, the configuration, the benchmarks
# the pages read or the pinned versions can change any chapter's output: then the cache is
# emptied and every page is read again.
BOOK_STAMP := _build/.built-stamp
JUPYTER_CACHE := _build/.jupyter_cache
BOOK_INPUTS := penguin_utils _config.yml _toc.yml benchmarks pyproject.toml $(LOCK)
newer = $(shell find $(BOOK_INPUTS) -type f -not -path '*/__pycache__/*' -newer $(1) | head -n 1)
STALE_CACHE = $(if $(wildcard $(JUPYTER_CACHE)/global.db),$(call newer,$(JUPYTER_CACHE)/global.db))
REBUILD_ALL = $(if $(wildcard $(BOOK_STAMP)),$(if $(call newer,$(BOOK_STAMP)),--all),--all)

# Chapters compile their models one after another, on one core; with no executed chapters in
# the cache, every one will run, so their models are first compiled on every core (precompile).
book: $(STAMP)  ## Build the HTML book, every chapter executed, into _build/html
	$(if $(STALE_CACHE),rm -rf $(JUPYTER_CACHE))
	$(if $(or $(STALE_CACHE),$(if $(wildcard $(JUPYTER_CACHE)/global.db),,none)),$(BIN)/python -m penguin_utils precompile)
	$(BIN)/jupyter-book build . -W -n --keep-going $(REBUILD_ALL)
	@touch $(BOOK_STAMP)
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# The unit tests run on two workers, a test module per worker, the longest first
# (tests/conftest.py): while one compiles (one core) the other gets the second core. The
# chapters then run one at a time, after the unit tests have filled the compile caches: each
# chapter times itself, and the book quotes those times. In between, the models the chapters
# compile are compiled two at a time (penguin_utils/precompile.py), so the chapters load them.
UNIT_TEST_ARGS := tests -m "not site" -n 2 --dist loadfile --no-loadscope-reorder -p no:cacheprovider --durations=10
CHAPTER_TEST_ARGS := book --nbval-lax --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider --durations=10

test: $(STAMP)  ## Unit tests, then every chapter executed and checked with nbval
	$(BIN)/python -m pytest $(UNIT_TEST_ARGS)
	$(BIN)/python -m penguin_utils precompile
	$(BIN)/python -m pytest $(CHAPTER_TEST_ARGS)

# Needs Chromium and chromedriver from the system (apt-get install chromium chromium-driver).
test-site: $(STAMP)  ## The built book in headless Chromium, offline; screenshots in _build/screenshots
	$(BIN)/python -m pytest tests/test_site.py -m site -p no:cacheprovider

# How the project notices upstream breakage (CI runs it weekly): the newest versions that
# pyproject.toml allows, in a fresh .venv-latest, then the same tests as `make test`.
LATEST := $(abspath .venv-latest)/bin
test-latest:  ## The same tests against the newest allowed versions, in .venv-latest
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	$(LATEST)/python -m pip install --quiet --upgrade pip
	$(LATEST)/python -m pip install --quiet -e '.[book,test]'
	@# tests/test_lock.py then reports, as a skip, which versions differ from the lock.
	PATH=$(LATEST):$$PATH PENGUIN_MIXTURES_UNLOCKED=1 $(LATEST)/python -m pytest $(UNIT_TEST_ARGS)
	$(LATEST)/python -m penguin_utils precompile
	PATH=$(LATEST):$$PATH PENGUIN_MIXTURES_UNLOCKED=1 $(LATEST)/python -m pytest $(CHAPTER_TEST_ARGS)

lab: $(STAMP)  ## Open the chapters in JupyterLab
	$(BIN)/jupyter lab book

check: $(STAMP)  ## Workshop setup check: versions, backend, data, cache; warms the compile caches
	$(BIN)/python -m penguin_utils check

precompile: $(STAMP)  ## Compile every chapter's models into the caches, on every core (minutes, once)
	$(BIN)/python -m penguin_utils precompile

learner: $(STAMP)  ## Copies of the chapters without solutions or outputs, in learner/ (not committed)
	$(BIN)/python scripts/make_learner.py --out learner book/*.ipynb

benchmark: $(STAMP)  ## Run every benchmark script, one after another; each writes the results the book shows
	for script in benchmarks/[!_]*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf _build book/fits
