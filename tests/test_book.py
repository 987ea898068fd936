"""The chapters' setup and the fit they share: loaded when saved, sampled identically when not."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import random_posterior

from penguin_utils import book
from penguin_utils.assign import assign_clusters
from penguin_utils.book import FIT_SETTINGS, setup_chapter, shared_fit
from penguin_utils.io import book_fit_path, load_fit, save_fit


def test_setup_chapter_gives_the_scaled_penguins(penguins, scaler, X):
    with warnings.catch_warnings():
        got_penguins, got_scaler, got_X = setup_chapter()
    assert got_penguins.equals(penguins)
    assert got_X.equals(X)
    np.testing.assert_array_equal(got_scaler.mean, scaler.mean)


def test_a_saved_fit_with_the_current_stamp_is_loaded_not_sampled(tmp_path, monkeypatch, scaler, X):
    posterior = random_posterior(n_chain=2, n_draw=4, seed=3).posterior
    save_fit(book_fit_path("mixture", tmp_path), posterior.assign_attrs(penguin_mixtures_stamp=book._stamp(X)), scaler)

    def no_sampling(*args, **kwargs):
        raise AssertionError("shared_fit sampled although a current fit was saved")

    monkeypatch.setattr("penguin_utils.sampling.fit_mixture", no_sampling)
    loaded = shared_fit(X, scaler, folder=tmp_path)
    np.testing.assert_array_equal(loaded.posterior["mu"].values, posterior["mu"].values)


def test_the_stamp_changes_with_the_data(X):
    assert book._stamp(X) == book._stamp(X.copy())
    moved = X.copy()
    moved.iloc[0, 0] += 1e-9
    assert book._stamp(moved) != book._stamp(X)


def test_shared_fit_wants_the_scaled_dataframe(scaler, X):
    with pytest.raises(TypeError, match="scaled penguins as a DataFrame"):
        shared_fit(X.to_numpy(), scaler)


@pytest.mark.slow
def test_a_stale_fit_is_sampled_again_with_the_same_draws(tmp_path, book_fit, scaler, X):
    """Sampling again from the same seed gives the draws the book saved: a chapter that
    loads the fit and one that samples it show the same numbers."""
    stale = book_fit.posterior.assign_attrs(penguin_mixtures_stamp="made by older code")
    save_fit(book_fit_path("mixture", tmp_path), stale, scaler)
    again = shared_fit(X, scaler, folder=tmp_path)
    assert again.posterior.sizes["chain"] == FIT_SETTINGS["chains"]
    assert again.posterior.sizes["draw"] == FIT_SETTINGS["draws"]
    assert again.posterior["chol"].dims == ("chain", "draw", "cluster", "feature", "feature_")
    assert (assign_clusters(again, X).index == X.index).all()
    for name in ("w", "mu", "chol"):
        np.testing.assert_array_equal(again.posterior[name].values, book_fit.posterior[name].values)
    assert load_fit(book_fit_path("mixture", tmp_path))[0].posterior.attrs["penguin_mixtures_stamp"] == book._stamp(X)
