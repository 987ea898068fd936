# Two commands set everything up: `make book` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(BIN):$(PATH)

.PHONY: book test lab benchmark clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,test]'
	@touch $(STAMP)

# Sphinx re-executes only the chapters that changed; a change to the package or the book's
# configuration can change any chapter's output, so then every chapter is rebuilt.
BOOK_STAMP := _build/.built-stamp
REBUILD_ALL = $(if $(wildcard $(BOOK_STAMP)),$(if $(shell find penguin_utils _config.yml _toc.yml benchmarks -newer $(BOOK_STAMP) -name '*.*' | head -n 1),--all),--all)

book: $(STAMP)  ## Build the HTML book, every chapter executed, into _build/html
	$(BIN)/jupyter-book build . -W -n --keep-going $(REBUILD_ALL)
	@touch $(BOOK_STAMP)
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

test: $(STAMP)  ## Unit tests, then every chapter executed and checked with nbval
	$(BIN)/python -m pytest tests book --nbval-lax --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider --durations=10

lab: $(STAMP)  ## Open the chapters in JupyterLab
	$(BIN)/jupyter lab book

benchmark: $(STAMP)  ## Time every model and sampler; prints the table shown in the book
	$(BIN)/python benchmarks/compare_samplers.py
	$(BIN)/python benchmarks/logp_eval.py
	$(BIN)/python benchmarks/assign_speed.py

clean:
	rm -rf _build book/fits
