"""Posterior checks: one place (posterior.mixture_draws), the same at every entry point."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import random_posterior

from penguin_utils.assign import (
    assign_clusters,
    cluster_probabilities,
    component_logp,
    draw_probabilities,
)
from penguin_utils.io import save_fit
from penguin_utils.posterior import as_posterior, mixture_draws
from penguin_utils.relabel import align_chains, chain_permutations


def _entry_points(tmp_path, scaler, X):
    """Every public function that takes a fit, as f(fit)."""
    return {
        "component_logp": lambda fit: component_logp(fit, X),
        "cluster_probabilities": lambda fit: cluster_probabilities(fit, X),
        "draw_probabilities": lambda fit: draw_probabilities(fit, X),
        "assign_clusters": lambda fit: assign_clusters(fit, X),
        "save_fit": lambda fit: save_fit(tmp_path / "fit.nc", fit, scaler, overwrite=True),
        "align_chains": align_chains,
        "chain_permutations": chain_permutations,
    }


def test_good_posterior_passes_unchanged():
    idata = random_posterior(n_chain=2, n_draw=4, seed=1)
    before = idata.posterior.copy(deep=True)
    draws = mixture_draws(idata)
    for name in ("w", "mu", "chol"):
        np.testing.assert_array_equal(getattr(draws, name), before[name].values)
    xr.testing.assert_identical(idata.posterior, before)
    assert draws.coords["feature"] == list(before["feature"].values)


def test_inference_data_and_its_posterior_dataset_give_the_same_results(tmp_path, scaler, X):
    idata = random_posterior(n_chain=2, n_draw=4, seed=2)
    for name, f in _entry_points(tmp_path, scaler, X).items():
        from_idata, from_dataset = f(idata), f(idata.posterior)
        if name == "align_chains":
            assert isinstance(from_idata, az.InferenceData) and isinstance(from_dataset, xr.Dataset)
            xr.testing.assert_identical(from_idata.posterior, from_dataset)
        elif isinstance(from_idata, pd.DataFrame):
            pd.testing.assert_frame_equal(from_idata, from_dataset)
        elif isinstance(from_idata, xr.DataArray):
            xr.testing.assert_identical(from_idata, from_dataset)
        elif isinstance(from_idata, np.ndarray):
            np.testing.assert_array_equal(from_idata, from_dataset)
        else:
            assert from_idata == from_dataset, name


def _set(name, where, value):
    def mutate(post):
        post[name].values[where] = value

    return mutate


CHOL = r"'chol' has a diagonal entry that is not positive"
BAD = [
    (
        "above the diagonal",
        _set("chol", (1, 2, 0, 0, 3), 0.5),
        r"'chol' has a non-zero entry above the diagonal in chain 1, draw 2",
    ),
    ("negative diagonal", _set("chol", (0, 1, 2, 3, 3), -0.1), CHOL + r".*chain 0, draw 1"),
    ("zero diagonal", _set("chol", (1, 0, 0, 1, 1), 0.0), CHOL + r".*chain 1, draw 0"),
    (
        "nan below diagonal",
        _set("chol", (0, 3, 1, 2, 0), np.nan),
        r"'chol' has a NaN or infinite entry in chain 0, draw 3",
    ),
    ("infinite diagonal", _set("chol", (0, 0, 0, 0, 0), np.inf), CHOL + r" and finite in chain 0, draw 0"),
    ("nan weight", _set("w", (1, 1, 0), np.nan), r"'w' has a NaN or infinite weight in chain 1, draw 1"),
    ("negative weight", _set("w", (0, 2, 1), -0.2), r"'w' has a negative weight in chain 0, draw 2"),
    (
        "weights not summing to 1",
        _set("w", (1, 3, 2), 0.9),
        r"'w' has weights that do not sum to 1 in chain 1, draw 3 \(they sum to",
    ),
    ("infinite mean", _set("mu", (1, 0, 1, 2), -np.inf), r"'mu' has a NaN or infinite mean in chain 1, draw 0"),
]


@pytest.mark.parametrize("mutate, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_impossible_values_are_named_by_variable_chain_and_draw(tmp_path, scaler, X, mutate, message):
    idata = random_posterior(n_chain=2, n_draw=4, seed=3)
    mutate(idata.posterior)
    for f in _entry_points(tmp_path, scaler, X).values():
        with pytest.raises(ValueError, match=message):
            f(idata)
        with pytest.raises(ValueError, match=message):
            f(idata.posterior)
    assert not (tmp_path / "fit.nc").exists()


def test_weights_within_float32_rounding_of_one_pass():
    idata = random_posterior(seed=4)
    idata.posterior["w"] = idata.posterior["w"].astype(np.float32)
    mixture_draws(idata)


def test_a_posterior_without_draws_is_refused(X):
    idata = random_posterior(n_draw=3)
    empty = idata.posterior.isel(draw=slice(0, 0))
    with pytest.raises(ValueError, match="no draw entries; it needs at least one draw"):
        cluster_probabilities(empty, X)


def test_feature_coordinates_of_chol_must_agree():
    post = random_posterior().posterior.assign_coords(feature_=list("abcd"))
    with pytest.raises(ValueError, match="feature and feature_ coordinates differ"):
        mixture_draws(post)


@pytest.mark.parametrize(
    "fit, message",
    [
        ({"w": 1}, r"InferenceData with a posterior group.*got dict"),
        ([1, 2], r"got list"),
        (None, r"got NoneType"),
        (np.zeros((3, 4)), r"got a ndarray.*swapped"),
    ],
    ids=["dict", "list", "None", "array"],
)
def test_anything_but_a_fit_is_refused_by_name(X, fit, message):
    with pytest.raises(TypeError, match=message):
        assign_clusters(fit, X)


def test_swapped_arguments_are_spotted(X):
    idata = random_posterior()
    with pytest.raises(TypeError, match=r"got a DataFrame\. The fit comes first.*swapped"):
        assign_clusters(X, idata)
    with pytest.raises(TypeError, match="It looks like a fit: the fit comes first"):
        cluster_probabilities(idata, idata)
    with pytest.raises(TypeError, match="got list"):
        cluster_probabilities(idata, X.to_numpy().tolist())


def test_inference_data_without_posterior_is_refused(X):
    prior_only = az.InferenceData(prior=random_posterior().posterior)
    with pytest.raises(ValueError, match=r"no posterior group \(it has \['prior'\]\)"):
        component_logp(prior_only, X)


def test_a_datatree_is_accepted(X):
    idata = random_posterior(seed=5)
    tree = xr.DataTree.from_dict({"posterior": idata.posterior})
    xr.testing.assert_identical(as_posterior(tree), idata.posterior)
    pd.testing.assert_frame_equal(cluster_probabilities(tree, X), cluster_probabilities(idata, X))
