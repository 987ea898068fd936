import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import random_posterior
from scipy.stats import multivariate_normal

from penguin_utils.assign import draw_probabilities
from penguin_utils.uncertainty import co_clustering, misassigned_per_draw, one_hot, sample_labels


def test_co_clustering_of_a_posterior_matches_scipy_densities(X):
    idata = random_posterior(n_chain=2, n_draw=2, seed=5)
    sub = X.iloc[:25]
    got = co_clustering(draw_probabilities(idata, sub))
    post = idata.posterior
    expected = np.zeros((len(sub), len(sub)))
    for c in range(2):
        for s in range(2):
            dens = np.column_stack(
                [
                    post["w"].values[c, s, k]
                    * multivariate_normal(
                        post["mu"].values[c, s, k], post["chol"].values[c, s, k] @ post["chol"].values[c, s, k].T
                    ).pdf(sub.to_numpy())
                    for k in range(3)
                ]
            )
            p = dens / dens.sum(axis=1, keepdims=True)
            expected += p @ p.T
    expected /= 4
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-10)
    np.testing.assert_array_equal(got.index, sub.index)


def test_co_clustering_matches_a_loop_over_draws_and_pairs(random_probabilities):
    probs = random_probabilities(seed=1)
    got = co_clustering(probs)
    p = probs.values
    n = p.shape[2]
    expected = np.zeros((n, n))
    for c in range(p.shape[0]):
        for s in range(p.shape[1]):
            for i in range(n):
                for j in range(n):
                    expected[i, j] += 1.0 if i == j else sum(p[c, s, i, k] * p[c, s, j, k] for k in range(p.shape[3]))
    expected /= p.shape[0] * p.shape[1]
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-12)
    np.testing.assert_array_equal(got.index, probs["penguin"].values)
    np.testing.assert_array_equal(got.columns, probs["penguin"].values)


def test_co_clustering_ignores_relabelling_within_any_draw(random_probabilities):
    probs = random_probabilities(n_draw=4, seed=2)
    shuffled = probs.values.copy()
    rng = np.random.default_rng(0)
    for c in range(shuffled.shape[0]):
        for s in range(shuffled.shape[1]):
            shuffled[c, s] = shuffled[c, s][:, rng.permutation(3)]
    np.testing.assert_allclose(co_clustering(probs.copy(data=shuffled)).to_numpy(), co_clustering(probs).to_numpy())


def test_co_clustering_of_sampled_labels_approaches_the_exact_value(random_probabilities):
    probs = random_probabilities(n_chain=1, n_draw=2, n_penguin=5, seed=3)
    # many label draws per parameter draw: repeat the parameter draws along 'draw'
    many = probs.isel(draw=np.tile(np.arange(2), 20000)).assign_coords(draw=np.arange(40000))
    labels = sample_labels(many, random_seed=4)
    from_labels = co_clustering(one_hot(labels, probs["cluster"].values))
    np.testing.assert_allclose(from_labels.to_numpy(), co_clustering(probs).to_numpy(), atol=0.015)


def test_sample_labels_follow_the_probabilities():
    p = np.array([[0.1, 0.6, 0.3], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    probs = xr.DataArray(
        np.broadcast_to(p, (2, 20000, 3, 3)).copy(),
        dims=("chain", "draw", "penguin", "cluster"),
        coords={"cluster": [4, 5, 6]},
    )
    labels = sample_labels(probs, random_seed=1)
    assert labels.dims == ("chain", "draw", "penguin")
    assert set(np.unique(labels.values)) <= {4, 5, 6}
    freq = np.stack([(labels.values == k).mean(axis=(0, 1)) for k in (4, 5, 6)], axis=1)
    np.testing.assert_allclose(freq, p, atol=0.01)
    np.testing.assert_array_equal(labels.values[..., 1], 4)  # probability 1: always that label
    np.testing.assert_array_equal(labels.values[..., 2], 6)
    np.testing.assert_array_equal(sample_labels(probs, random_seed=1), labels)  # seeded


def test_misassigned_per_draw_counts_like_a_loop():
    rng = np.random.default_rng(7)
    species = pd.Series(rng.choice(["Adelie", "Chinstrap", "Gentoo"], size=9), index=np.arange(100, 109))
    labels = xr.DataArray(
        rng.integers(0, 3, size=(2, 5, 9)), dims=("chain", "draw", "penguin"), coords={"penguin": species.index}
    )
    mapping = {0: "Adelie", 1: "Gentoo", 2: "Chinstrap"}
    got = misassigned_per_draw(labels, species, mapping)
    assert got.dims == ("chain", "draw")
    for c in range(2):
        for s in range(5):
            expected = sum(mapping[labels.values[c, s, i]] != species.iloc[i] for i in range(9))
            assert got.values[c, s] == expected


def test_misassigned_per_draw_agrees_with_species_agreement(penguins):
    from penguin_utils.evaluate import species_agreement

    species = penguins["species"]
    rng = np.random.default_rng(0)
    clusters = pd.Series(rng.integers(0, 4, size=len(species)), index=species.index)
    result = species_agreement(clusters, species)
    labels = xr.DataArray(
        clusters.to_numpy()[None, None], dims=("chain", "draw", "penguin"), coords={"penguin": species.index}
    )
    assert misassigned_per_draw(labels, species, result["mapping"]).item() == result["misassigned"]


def test_bad_inputs_say_what_is_wrong(random_probabilities):
    probs = random_probabilities()
    with pytest.raises(TypeError, match="draw_probabilities"):
        co_clustering(probs.values)
    with pytest.raises(ValueError, match="sum to 1 over 'cluster'"):
        co_clustering(probs / 2)
    with pytest.raises(ValueError, match="dims"):
        co_clustering(probs.rename(cluster="k"))
    labels = sample_labels(probs)
    species = pd.Series(["Adelie"] * 7, index=probs["penguin"].values)
    with pytest.raises(ValueError, match="no species for cluster"):
        misassigned_per_draw(labels, species, {0: "Adelie"})
    with pytest.raises(ValueError, match="different penguins"):
        misassigned_per_draw(labels, species.iloc[:3], {0: "A", 1: "B", 2: "C"})
    with pytest.raises(ValueError, match="non-negative integer"):
        misassigned_per_draw(labels - 1, species, {0: "A", 1: "B", 2: "C"})
    with pytest.raises(ValueError, match="not among the clusters"):
        one_hot(labels, [0, 1])
