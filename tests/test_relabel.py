import numpy as np
import pytest
import xarray as xr

from conftest import random_posterior
from penguin_utils.relabel import align_chains, chain_permutations


def _scramble(idata, perms):
    """Relabel each chain on purpose: new label k holds what was cluster perms[c][k]."""
    post = idata.posterior
    chains = []
    for c, perm in enumerate(perms):
        chain = post.isel(chain=[c])
        upd = {n: v.isel(cluster=list(perm)).assign_coords(cluster=v["cluster"]) for n, v in chain.data_vars.items() if "cluster" in v.dims}
        upd |= {
            f"chol_packed_{k}": chain[f"chol_packed_{k}"].copy(data=chain[f"chol_packed_{perm[k]}"].values)
            for k in range(len(perm))
        }
        if "z" in chain:
            inverse = np.argsort(perm)
            upd["z"] = chain["z"].copy(data=inverse[chain["z"].values])
        chains.append(chain.assign(upd))
    out = idata.copy()
    out.posterior = xr.concat(chains, dim="chain")
    return out


def _well_separated(n_chain=4, seed=0):
    idata = random_posterior(n_chain=n_chain, n_draw=50, seed=seed, with_packed=True)
    centres = np.array([[-3, 0, 0, 0], [0, 3, 0, 0], [3, 0, 0, 0]], dtype=float)
    rng = np.random.default_rng(seed)
    idata.posterior["mu"].values = centres + rng.normal(0, 0.1, size=idata.posterior["mu"].shape)
    z = rng.integers(0, 3, size=(n_chain, 50, 6))
    idata.posterior["z"] = xr.DataArray(z, dims=("chain", "draw", "penguin"))
    return idata


def test_permuted_chains_are_recovered():
    truth = _well_separated()
    perms = [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)]
    scrambled = _scramble(truth, perms)
    assert not np.allclose(scrambled.posterior["mu"].values, truth.posterior["mu"].values)
    aligned = align_chains(scrambled)
    for name in ["w", "mu", "chol", "z", "chol_packed_0", "chol_packed_1", "chol_packed_2"]:
        np.testing.assert_array_equal(aligned.posterior[name].values, truth.posterior[name].values, err_msg=name)
        assert aligned.posterior[name].dims == truth.posterior[name].dims
    # chain c's label for reference cluster k is where perms[c] put it
    assert aligned.posterior.attrs["cluster_permutation"] == np.argsort(perms, axis=1).ravel().tolist()
    # The input is left as it was.
    assert not np.allclose(scrambled.posterior["mu"].values, truth.posterior["mu"].values)


def test_reference_sets_the_labels():
    truth = _well_separated(n_chain=2)
    reference = np.array([[3, 0, 0, 0], [-3, 0, 0, 0], [0, 3, 0, 0]], dtype=float)
    perm = chain_permutations(truth, reference)
    np.testing.assert_array_equal(perm, [[2, 0, 1], [2, 0, 1]])
    aligned = align_chains(truth, reference)
    np.testing.assert_allclose(aligned.posterior["mu"].mean(("chain", "draw")).values, reference, atol=0.1)


def test_aligned_chains_are_a_fixed_point():
    truth = _well_separated()
    again = align_chains(align_chains(truth))
    np.testing.assert_array_equal(again.posterior["mu"].values, truth.posterior["mu"].values)


def test_reference_with_another_cluster_count_is_refused():
    with pytest.raises(ValueError, match="cluster count must match"):
        chain_permutations(_well_separated(), np.zeros((2, 4)))
