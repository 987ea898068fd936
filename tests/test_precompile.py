"""``penguin-utils precompile``: the chapters' models, built as the chapters build them, compiled ahead."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from test_cli import assert_one_line_error, run

from penguin_utils.precompile import BOOK_MODELS, check_names, precompile
from penguin_utils.sampling import _check_initial_point


@pytest.mark.parametrize("name", list(BOOK_MODELS))
def test_each_entry_builds_a_model_and_its_start(name, penguins, X):
    model, initial_point = BOOK_MODELS[name](penguins, X)
    assert isinstance(model, pm.Model)
    assert model.rvs_to_values  # something to sample
    discrete = [rv.name for rv in model.free_RVs if rv.type.dtype.startswith("int")]
    assert discrete == (["z"] if name.startswith("02 ") else [])  # NUTS alone, but for chapter 2's labels
    if initial_point is not None:
        _check_initial_point(model, initial_point)
        assert all(np.isfinite(v).all() for v in initial_point.values())


def test_chapter_7_entries_cover_its_range_of_k():
    assert sorted(n for n in BOOK_MODELS if n.startswith("07 ")) == [f"07 K = {k}, Dirichlet(5)" for k in range(1, 6)]


def test_chapters_2_to_5_are_there_for_a_book_built_alone():
    # make book on a fresh machine runs no unit tests and no setup check before the chapters.
    assert {"02 categorical, compound step", "03 pm.Mixture", "03 the book's fit (fused)"} <= set(BOOK_MODELS)


def test_pymc_is_quiet_only_inside():
    import logging

    from penguin_utils.precompile import _quiet

    logger = logging.getLogger("pymc")
    before = logger.level
    with _quiet("pymc"):
        assert logger.level == logging.ERROR
    assert logger.level == before


def test_list_prints_every_model():
    result = run("precompile", "--list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == list(BOOK_MODELS)


def test_unknown_model_is_one_line_with_the_fix():
    assert_one_line_error(run("precompile", "07 K = 6"), "no book model named '07 K = 6'", "--list")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="^no book model named 'chapter 99'$"):
        precompile(["07 K = 1, Dirichlet(5)", "chapter 99"])
    assert check_names(iter(["09 ordered means"])) == ["09 ordered means"]
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        precompile(jobs=0)


@pytest.mark.slow
def test_compiles_a_model_in_a_worker_process():
    """The smallest entry, through the command as make runs it; chapter 7 then loads it."""
    name = "07 K = 1, Dirichlet(5)"
    result = run("precompile", name, "--jobs", "1")
    assert result.returncode == 0, result.stderr
    line, total = result.stdout.strip().splitlines()
    assert line.strip().startswith(name) and line.endswith(" s")
    assert float(line.strip()[len(name) :].split()[0]) > 0
    assert total.startswith("Compiled 1 models in ") and total.endswith(" s, 1 at a time")
