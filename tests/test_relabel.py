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
        upd = {
            n: v.isel(cluster=list(perm)).assign_coords(cluster=v["cluster"])
            for n, v in chain.data_vars.items()
            if "cluster" in v.dims
        }
        for pattern in ("chol_packed_{}", "chol_packed_{}_cholesky-cov-packed__"):
            upd |= {
                pattern.format(k): chain[pattern.format(k)].copy(data=chain[pattern.format(perm[k])].values)
                for k in range(len(perm))
                if pattern.format(k) in chain
            }
        if "z" in chain:
            inverse = np.argsort(perm)
            upd["z"] = chain["z"].copy(data=inverse[chain["z"].values])
        chains.append(chain.assign(upd))
    out = idata.copy()
    out.posterior = xr.concat(chains, dim="chain")
    return out


def _well_separated(n_chain=4, seed=0, with_unconstrained=False):
    idata = random_posterior(
        n_chain=n_chain, n_draw=50, seed=seed, with_packed=True, with_unconstrained=with_unconstrained
    )
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


def _packed_consistent(posterior, k):
    """chol_packed_k and its unconstrained copy describe the same factor (log on the diagonal)."""
    packed = posterior[f"chol_packed_{k}"].values
    free = posterior[f"chol_packed_{k}_cholesky-cov-packed__"].values
    rows, cols = np.tril_indices(4)
    return np.allclose(np.where(rows == cols, np.exp(free), free), packed, rtol=1e-12, atol=0)


def test_unconstrained_copies_are_permuted_or_dropped():
    truth = _well_separated(with_unconstrained=True)
    perms = [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)]
    # a chain that found other labels has all its variables, constrained or not, relabelled
    scrambled = _scramble(truth, perms)
    aligned = align_chains(scrambled).posterior
    for k in range(3):
        name = f"chol_packed_{k}_cholesky-cov-packed__"
        np.testing.assert_array_equal(aligned[name].values, truth.posterior[name].values, err_msg=name)
        assert aligned[name].dims == truth.posterior[name].dims
        assert _packed_consistent(aligned, k)
    # w_simplex__ mixes the clusters: it cannot be permuted, so it is dropped and named
    assert "w_simplex__" not in aligned
    assert aligned.attrs["dropped_unconstrained"] == ["w_simplex__"]
    assert "w_simplex__" in scrambled.posterior  # the input is left as it was


def test_a_posterior_dataset_is_aligned_into_a_dataset():
    truth = _well_separated(n_chain=2)
    scrambled = _scramble(truth, [(0, 1, 2), (1, 2, 0)])
    aligned = align_chains(scrambled.posterior)
    assert isinstance(aligned, xr.Dataset)
    np.testing.assert_array_equal(aligned["mu"].values, truth.posterior["mu"].values)


def test_missing_per_cluster_variables_are_refused():
    idata = _well_separated(n_chain=2, with_unconstrained=True)
    idata.posterior = idata.posterior.drop_vars("chol_packed_1_cholesky-cov-packed__")
    with pytest.raises(ValueError, match=r"one variable per cluster 0..2 .*cholesky-cov-packed__"):
        align_chains(idata)


@pytest.fixture(scope="module")
def nutpie_run(compiled_mixture):
    """A short real nutpie run (needs the heavy-command lock when run by hand)."""
    import nutpie

    return nutpie.sample(compiled_mixture, draws=30, tune=30, chains=2, cores=1, seed=1, progress_bar=False)


@pytest.mark.slow
def test_real_nutpie_posterior_stays_consistent_when_relabelled(nutpie_run):
    names = set(nutpie_run.posterior.data_vars)
    assert {"w_simplex__", "chol_packed_0_cholesky-cov-packed__"} <= names  # nutpie's real names
    # relabel chain 1 as a chain that settled on other labels would have them
    scrambled = _scramble(nutpie_run, [(0, 1, 2), (2, 0, 1)])
    aligned = align_chains(scrambled).posterior
    np.testing.assert_array_equal(aligned["mu"].values, nutpie_run.posterior["mu"].values)
    for k in range(3):
        assert _packed_consistent(aligned, k)
        # chol is the expanded chol_packed_k in every draw
        rows, cols = np.tril_indices(4)
        np.testing.assert_array_equal(
            aligned["chol"].values[:, :, k][..., rows, cols], aligned[f"chol_packed_{k}"].values
        )
    assert set(aligned.data_vars) == names - {"w_simplex__"}
