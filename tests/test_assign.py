import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import random_posterior, scipy_component_logp, sklearn_mixture
from scipy.special import logsumexp

from penguin_utils.assign import (
    assign_clusters,
    cluster_probabilities,
    component_logp,
    draw_probabilities,
    label_frequencies,
    mixture_log_likelihood,
)
from penguin_utils.data import FEATURES


def test_component_logp_matches_scipy_for_every_draw(X):
    idata = random_posterior(n_chain=3, n_draw=4, seed=1)
    got = component_logp(idata, X)
    assert got.dims == ("chain", "draw", "penguin", "cluster")
    assert got.shape == (3, 4, len(X), 3)
    np.testing.assert_array_equal(got["penguin"], X.index)
    np.testing.assert_allclose(got.values, scipy_component_logp(idata, X.to_numpy()), rtol=1e-10, atol=1e-8)


def test_single_draw_probabilities_match_sklearn(X):
    idata = random_posterior(n_chain=1, n_draw=1, seed=2)
    probs = cluster_probabilities(idata, X)
    np.testing.assert_allclose(probs.to_numpy(), sklearn_mixture(idata).predict_proba(X.to_numpy()), atol=1e-8)


def test_mixture_log_likelihood_is_the_mixture_density_per_penguin(X):
    idata = random_posterior(n_chain=2, n_draw=3, seed=11)
    got = mixture_log_likelihood(idata, X)
    assert got.dims == ("chain", "draw", "penguin")
    np.testing.assert_array_equal(got["penguin"], X.index)
    expected = np.log(np.exp(scipy_component_logp(idata, X.to_numpy())).sum(axis=-1))
    np.testing.assert_allclose(got.values, expected, rtol=1e-10)


def test_single_draw_log_likelihood_matches_sklearn(X):
    idata = random_posterior(n_chain=1, n_draw=1, seed=12)
    np.testing.assert_allclose(
        mixture_log_likelihood(idata, X).values[0, 0], sklearn_mixture(idata).score_samples(X.to_numpy()), rtol=1e-10
    )


def test_mixture_log_likelihood_ignores_labels(X):
    idata = random_posterior(n_chain=2, n_draw=3, seed=2)
    permuted = idata.copy()
    permuted.posterior = idata.posterior.isel(cluster=[2, 0, 1]).assign_coords(cluster=[0, 1, 2])
    np.testing.assert_allclose(
        mixture_log_likelihood(permuted, X).values, mixture_log_likelihood(idata, X).values, rtol=1e-13
    )


def test_probabilities_average_per_draw_normalised_values(X):
    idata = random_posterior(n_chain=2, n_draw=5, seed=3)
    probs = cluster_probabilities(idata, X)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-12)
    # per draw, normalise per penguin (not over the whole matrix), then average
    lp = component_logp(idata, X).values
    per_draw = np.exp(lp - lp.max(axis=-1, keepdims=True))
    per_draw /= per_draw.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(probs.to_numpy(), per_draw.mean(axis=(0, 1)), atol=1e-12)
    assert list(probs.columns) == [0, 1, 2]
    pd.testing.assert_index_equal(probs.index, X.index, check_names=False)


def test_assign_clusters_summarises_the_probabilities(X):
    idata = random_posterior(n_chain=2, n_draw=5, seed=4)
    out = assign_clusters(idata, X)
    probs = out[[0, 1, 2]].to_numpy()
    np.testing.assert_array_equal(out["cluster"], probs.argmax(axis=1))
    np.testing.assert_allclose(out["probability"], probs.max(axis=1))
    expected_entropy = -(probs * np.log(np.clip(probs, 1e-300, None))).sum(axis=1)
    np.testing.assert_allclose(out["entropy"], expected_entropy, atol=1e-12)
    assert (out["entropy"] >= -1e-15).all() and (out["entropy"] <= np.log(3) + 1e-12).all()


def test_new_penguins_given_as_an_array(X):
    idata = random_posterior(seed=5)
    new = X.to_numpy()[:7]
    probs = cluster_probabilities(idata, new)
    np.testing.assert_allclose(probs.to_numpy(), cluster_probabilities(idata, X.iloc[:7]).to_numpy())
    assert list(probs.index) == list(range(7))


def test_label_frequencies_counts_z():
    idata = random_posterior(n_chain=2, n_draw=4, seed=6)
    z = np.array([[[0, 1], [0, 1], [0, 2], [0, 1]], [[0, 1], [1, 1], [0, 1], [0, 1]]])
    idata.posterior["z"] = xr.DataArray(z, dims=("chain", "draw", "penguin"), coords={"penguin": [10, 11]})
    out = label_frequencies(idata)
    np.testing.assert_allclose(out.loc[10, [0, 1, 2]], [7 / 8, 1 / 8, 0])
    np.testing.assert_allclose(out.loc[11, [0, 1, 2]], [0, 7 / 8, 1 / 8])
    assert list(out["cluster"]) == [0, 1]
    with pytest.raises(ValueError, match="needs a posterior with the labels z"):
        label_frequencies(random_posterior())


def test_bad_posteriors_are_refused(X):
    with pytest.raises(TypeError, match="InferenceData with a posterior group.*got object"):
        cluster_probabilities(object(), X)
    idata = random_posterior()
    no_mu = idata.copy()
    no_mu.posterior = no_mu.posterior.drop_vars("mu")
    with pytest.raises(ValueError, match=r"lacks the variable\(s\) \['mu'\]"):
        assign_clusters(no_mu, X)
    renamed = idata.copy()
    renamed.posterior = renamed.posterior.assign_coords(feature=list("abcd"), feature_=list("abcd"))
    with pytest.raises(ValueError, match="fitted on features"):
        component_logp(renamed, X)
    bad_chol = idata.copy()
    bad_chol.posterior["chol"] = -bad_chol.posterior["chol"]
    with pytest.raises(ValueError, match="diagonal entry that is not positive and finite"):
        component_logp(bad_chol, X)
    transposed = idata.copy()
    transposed.posterior["mu"] = transposed.posterior["mu"].transpose("chain", "draw", "feature", "cluster")
    with pytest.raises(ValueError, match="has dims"):
        component_logp(transposed, X)


def test_bad_data_is_refused(penguins, X):
    idata = random_posterior()
    with pytest.raises(ValueError, match="looks unscaled"):
        cluster_probabilities(idata, penguins[list(FEATURES)])
    with pytest.raises(ValueError, match="missing the column"):
        cluster_probabilities(idata, X.drop(columns="bill_depth_mm"))
    with pytest.raises(ValueError, match=r"shape \(n_penguins, 4\)"):
        cluster_probabilities(idata, np.zeros((3, 5)))
    inf = X.copy()
    inf.iloc[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        cluster_probabilities(idata, inf)


def test_draw_probabilities_are_normalised_per_draw_and_average_to_cluster_probabilities(X):
    idata = random_posterior(n_chain=2, n_draw=5, seed=8)
    per_draw = draw_probabilities(idata, X)
    assert per_draw.dims == ("chain", "draw", "penguin", "cluster")
    assert per_draw.shape == (2, 5, len(X), 3)
    np.testing.assert_allclose(per_draw.sum("cluster"), 1, atol=1e-12)
    # brute force: Bayes' rule with SciPy densities, one draw at a time
    dens = np.exp(scipy_component_logp(idata, X.to_numpy()))
    np.testing.assert_allclose(per_draw.values, dens / dens.sum(axis=-1, keepdims=True), rtol=1e-9, atol=1e-12)
    mean = per_draw.mean(("chain", "draw")).transpose("penguin", "cluster").values
    np.testing.assert_allclose(cluster_probabilities(idata, X).to_numpy(), mean, atol=1e-12)


def test_component_logp_is_the_samplers_density(X):
    """logsumexp over clusters of component_logp equals the likelihood the sampler evaluates."""
    import pytensor

    from penguin_utils.mixture_logp import mvnormal_mixture_logp

    idata = random_posterior(n_chain=1, n_draw=2, seed=9)
    post = idata.posterior
    lp = component_logp(idata, X).values
    f = pytensor.function(
        [],
        mvnormal_mixture_logp(X.to_numpy(), post["w"].values[0, 1], post["mu"].values[0, 1], post["chol"].values[0, 1]),
        mode="FAST_COMPILE",
    )
    np.testing.assert_allclose(logsumexp(lp[0, 1], axis=-1), f(), rtol=1e-13)


@pytest.mark.parametrize(
    "index",
    [
        pd.MultiIndex.from_arrays([["Biscoe"] * 4 + ["Dream"] * 3, range(7)], names=["island", "tag"]),
        pd.Index([f"p{i}" for i in range(7)], name="id"),
        pd.date_range("2026-01-01", periods=7, name="seen"),
        pd.Index([3, 1, 4, 15, 9, 2, 6]),
    ],
    ids=["multiindex", "strings", "dates", "unnamed-ints"],
)
def test_new_penguins_keep_their_index_in_every_result(X, index):
    idata = random_posterior(seed=10)
    new = X.iloc[:7].set_axis(index)
    expected = cluster_probabilities(idata, X.iloc[:7]).to_numpy()
    for result in [cluster_probabilities(idata, new), assign_clusters(idata, new)]:
        named = isinstance(index, pd.MultiIndex) or index.name is not None
        pd.testing.assert_index_equal(result.index, index, check_names=named)
        np.testing.assert_allclose(result[[0, 1, 2]].to_numpy(), expected, atol=1e-15)
    for result in [draw_probabilities(idata, new), component_logp(idata, new)]:
        pd.testing.assert_index_equal(result.indexes["penguin"], index, check_names=False)
    if isinstance(index, pd.MultiIndex):
        per_draw = draw_probabilities(idata, new)
        one = per_draw.sel(penguin=("Dream", 5))
        np.testing.assert_allclose(one.mean(("chain", "draw")), expected[5], atol=1e-15)


def test_index_levels_that_clash_with_the_dims_are_refused(X):
    new = X.iloc[:2].set_axis(pd.MultiIndex.from_arrays([[0, 1], [0, 0]], names=["chain", "tag"]))
    with pytest.raises(ValueError, match=r"level\(s\) named \['chain'\].*rename"):
        draw_probabilities(random_posterior(), new)


@pytest.mark.parametrize(
    "function", [component_logp, draw_probabilities, mixture_log_likelihood, cluster_probabilities]
)
def test_a_penguins_numbers_do_not_depend_on_the_penguins_around_it(X, function):
    # The kernel takes penguins in blocks and the command line splits tables across threads and
    # partitions: every split must give the same bits as one pass.
    idata = random_posterior(n_chain=2, n_draw=4, seed=12)
    many = pd.concat([X] * 3, ignore_index=True)  # 1026 penguins: several blocks, the last one partial
    whole = function(idata, many)
    for start, stop in [(0, 1), (1, 300), (255, 257), (700, 1026)]:
        part = function(idata, many.iloc[start:stop])
        if isinstance(whole, pd.DataFrame):
            np.testing.assert_array_equal(part.to_numpy(), whole.iloc[start:stop].to_numpy())
        else:
            np.testing.assert_array_equal(part.values, whole.isel(penguin=slice(start, stop)).values)
