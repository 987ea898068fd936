"""Per-chain diagnostics against a brute-force loop with SciPy's multivariate normal."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_posterior, scipy_component_logp

from penguin_utils.diagnostics import chain_cluster_sizes, chain_summary


@pytest.fixture(scope="module")
def small_X(X):
    return X.iloc[::17]


def test_chain_loglik_matches_scipy(small_X):
    idata = random_posterior(n_chain=2, n_draw=3, seed=1)
    dens = np.exp(scipy_component_logp(idata, small_X.to_numpy()))
    expected = np.log(dens.sum(axis=-1)).sum(axis=-1).mean(axis=1)
    np.testing.assert_allclose(chain_summary(idata, small_X)["loglik"], expected, rtol=1e-10)


def test_chain_summary_ignores_labels(small_X):
    idata = random_posterior(n_chain=2, n_draw=3, seed=2)
    permuted = idata.copy()
    permuted.posterior = idata.posterior.isel(cluster=[2, 0, 1]).assign_coords(cluster=[0, 1, 2])
    np.testing.assert_allclose(chain_summary(permuted, small_X), chain_summary(idata, small_X), rtol=1e-12)


def test_cluster_sizes_match_scipy(small_X):
    idata = random_posterior(n_chain=3, n_draw=4, seed=3)
    dens = np.exp(scipy_component_logp(idata, small_X.to_numpy()))
    expected = (dens / dens.sum(axis=-1, keepdims=True)).sum(axis=2).mean(axis=1)
    sizes = chain_cluster_sizes(idata, small_X)
    assert sizes.shape == (3, 3)
    assert sizes.index.name == "chain" and sizes.columns.name == "cluster"
    np.testing.assert_allclose(sizes.to_numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(sizes.sum(axis=1), len(small_X))


def test_chain_summary_sorts_sizes(small_X):
    idata = random_posterior(n_chain=2, n_draw=3, seed=4)
    table = chain_summary(idata, small_X)
    assert list(table.columns) == ["loglik", "size_1", "size_2", "size_3"]
    sizes = table[["size_1", "size_2", "size_3"]].to_numpy()
    assert (np.diff(sizes, axis=1) <= 0).all()
    np.testing.assert_allclose(np.sort(sizes, axis=1), np.sort(chain_cluster_sizes(idata, small_X).to_numpy(), axis=1))


def test_bad_input_is_named(small_X):
    with pytest.raises(TypeError, match="InferenceData"):
        chain_summary({"w": 1}, small_X)
    with pytest.raises(ValueError, match="column"):
        chain_cluster_sizes(random_posterior(), small_X.iloc[:, :3])
