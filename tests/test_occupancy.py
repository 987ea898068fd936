import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from penguin_utils.occupancy import (
    chain_co_clustering_gap,
    cluster_sizes,
    label_free_diagnostics,
    occupied_clusters,
    partners_match_species,
)
from penguin_utils.uncertainty import co_clustering


def _labels(values, clusters=None):
    values = np.asarray(values)
    return xr.DataArray(
        values,
        dims=("chain", "draw", "penguin"),
        coords={
            "chain": np.arange(values.shape[0]),
            "draw": np.arange(values.shape[1]),
            "penguin": np.arange(values.shape[2]),
        },
    )


def test_cluster_sizes_and_occupancy_match_a_loop_over_draws():
    rng = np.random.default_rng(1)
    clusters = np.array([3, 5, 7, 9, 11])
    values = clusters[rng.choice(5, p=[0.6, 0.3, 0.08, 0.02, 0.0], size=(3, 20, 15))]
    labels = _labels(values)
    sizes = cluster_sizes(labels, clusters)
    occupied = occupied_clusters(labels, clusters)
    big = occupied_clusters(labels, clusters, min_size=3)
    for c in range(3):
        for s in range(20):
            counts = [(values[c, s] == k).sum() for k in clusters]
            assert sizes.values[c, s].tolist() == counts
            assert occupied.values[c, s] == sum(n > 0 for n in counts)
            assert big.values[c, s] == sum(n >= 3 for n in counts)
    assert sizes.dims == ("chain", "draw", "cluster")
    assert (sizes.sum("cluster") == 15).all()
    assert sizes.values[..., -1].sum() == 0  # the cluster of probability 0 is always empty


def test_occupancy_is_unchanged_by_renumbering_the_clusters_of_one_draw():
    rng = np.random.default_rng(2)
    values = rng.integers(0, 6, size=(2, 5, 12))
    renamed = values.copy()
    renamed[1, 3] = np.array([5, 4, 3, 2, 1, 0])[renamed[1, 3]]
    a = occupied_clusters(_labels(values), range(6))
    b = occupied_clusters(_labels(renamed), range(6))
    xr.testing.assert_equal(a, b)


def test_bad_labels_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="not among the clusters"):
        cluster_sizes(_labels(np.full((1, 2, 3), 7)), range(3))
    with pytest.raises(TypeError, match="sample_labels"):
        cluster_sizes(np.zeros((1, 2, 3), int), range(3))
    with pytest.raises(ValueError, match="positive integer"):
        occupied_clusters(_labels(np.zeros((1, 2, 3), int)), range(3), min_size=0)


def test_label_free_diagnostics_match_arviz():
    rng = np.random.default_rng(3)
    a = xr.DataArray(rng.normal(size=(4, 100)), dims=("chain", "draw"))
    stuck = xr.DataArray(
        np.r_[np.zeros((2, 100)), np.ones((2, 100))] + rng.normal(0, 0.1, (4, 100)), dims=("chain", "draw")
    )
    table = label_free_diagnostics({"a": a, "stuck": stuck})
    assert table.loc["a", "r_hat"] == pytest.approx(float(az.rhat(a.values)))
    assert table.loc["a", "ess_bulk"] == pytest.approx(float(az.ess(a.values, method="bulk")))
    assert table.loc["stuck", "r_hat"] > 1.5  # chains in two places
    with pytest.raises(ValueError, match="dims"):
        label_free_diagnostics({"bad": xr.DataArray(np.zeros(5), dims="draw")})


def test_chain_gap_is_the_largest_difference_of_per_chain_co_clustering(random_probabilities):
    probs = random_probabilities(n_chain=3, n_draw=4, n_penguin=6, n_cluster=4, concentration=0.5)
    gap = chain_co_clustering_gap(probs)
    for a in range(3):
        for b in range(3):
            pa = probs.values[a]
            pb = probs.values[b]
            ma = np.einsum("sik,sjk->ij", pa, pa) / pa.shape[0]
            mb = np.einsum("sik,sjk->ij", pb, pb) / pb.shape[0]
            np.fill_diagonal(ma, 1)
            np.fill_diagonal(mb, 1)
            assert gap.values[a, b] == pytest.approx(np.abs(ma - mb).max())
    assert np.allclose(np.diag(gap), 0)
    assert gap.index.name == gap.columns.name == "chain"  # both axes are chains


def test_partners_match_species_by_brute_force():
    species = pd.Series(["A", "A", "A", "B", "B", "C"])
    together = pd.DataFrame(np.eye(6))
    together.iloc[[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]] = 0.9
    together.iloc[3, 4] = together.iloc[4, 3] = 0.8
    together.iloc[2, 3] = together.iloc[3, 2] = 0.6  # penguin 2 (A) and 3 (B) mostly together
    got = partners_match_species(together, species)
    assert got.tolist() == [True, True, False, False, True, True]
    assert partners_match_species(together, species, threshold=0.7).tolist() == [True] * 6
    with pytest.raises(ValueError, match="indexed"):
        partners_match_species(together, species.reset_index(drop=True).set_axis(range(1, 7)))


def test_partners_on_real_co_clustering_agree_with_a_direct_check(random_probabilities):
    probs = random_probabilities(n_chain=2, n_draw=5, n_penguin=8, n_cluster=3, seed=4, concentration=0.5)
    together = co_clustering(probs)
    species = pd.Series(list("aabbbccc"), index=together.index)
    got = partners_match_species(together, species)
    for i in range(8):
        partners = {j for j in range(8) if j != i and together.iloc[i, j] > 0.5}
        own = {j for j in range(8) if j != i and species.iloc[j] == species.iloc[i]}
        assert got.iloc[i] == (partners == own)
