import arviz as az
import numpy as np
import pytest
import xarray as xr
from conftest import random_posterior
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

from penguin_utils.compare import (
    add_log_likelihood,
    bic_by_k,
    compare_fits,
    sampling_diagnostics,
)


def test_add_log_likelihood_feeds_az_loo(X):
    idata = random_posterior(n_chain=2, n_draw=50, seed=13)
    with_ll = add_log_likelihood(idata, X)
    assert "log_likelihood" not in idata.groups()  # the input is left alone
    assert with_ll.log_likelihood["x"].dims == ("chain", "draw", "penguin")
    np.testing.assert_array_equal(with_ll.observed_data["x"].values, X.to_numpy())
    loo = az.loo(with_ll, pointwise=True)
    assert loo.pareto_k.shape == (len(X),)
    # elpd_loo never exceeds the log pointwise predictive density
    ll = with_ll.log_likelihood["x"].values.reshape(-1, len(X))
    lppd = (logsumexp(ll, axis=0) - np.log(ll.shape[0])).sum()
    assert loo.elpd_loo <= lppd + 1e-8
    # adding it twice replaces the group rather than failing
    again = add_log_likelihood(with_ll, X)
    np.testing.assert_allclose(again.log_likelihood["x"].values, with_ll.log_likelihood["x"].values)


def _fake_fit(X, seed, shift=0.0, n_draw=500, diverging=0):
    """A posterior whose draws are iid around a fixed point: converged by construction."""
    rng = np.random.default_rng(seed)
    base = random_posterior(n_chain=1, n_draw=1, seed=seed).posterior
    w = np.broadcast_to(base["w"].values, (4, n_draw, 3))
    mu = base["mu"].values + shift + rng.normal(0, 0.01, size=(4, n_draw, 3, 4))
    chol = np.broadcast_to(base["chol"].values, (4, n_draw, 3, 4, 4)).copy()
    chol[..., 0, 0] *= np.exp(rng.normal(0, 0.01, size=(4, n_draw, 3)))
    post = xr.Dataset(
        {
            "w": (("chain", "draw", "cluster"), w * np.exp(rng.normal(0, 0.01, size=(4, n_draw, 3))).clip(0, None)),
            "mu": (("chain", "draw", "cluster", "feature"), mu),
            "chol": (("chain", "draw", "cluster", "feature", "feature_"), chol),
        },
        coords={k: base[k].values for k in ("cluster", "feature", "feature_")},
    )
    post["w"] = post["w"] / post["w"].sum("cluster")
    div = np.zeros((4, n_draw), dtype=bool)
    div.flat[:diverging] = True
    stats = xr.Dataset({"diverging": (("chain", "draw"), div)})
    return add_log_likelihood(az.InferenceData(posterior=post, sample_stats=stats), X)


def test_sampling_diagnostics_against_arviz_summary(X):
    fit = _fake_fit(X, seed=21, diverging=3)
    diag = sampling_diagnostics(fit)
    summary = az.summary(fit, var_names=["w", "mu", "chol"])
    assert diag["r_hat"] == pytest.approx(summary["r_hat"].max(), abs=0.006)  # summary rounds to 2 decimals
    assert diag["ess"] == pytest.approx(min(summary["ess_bulk"].min(), summary["ess_tail"].min()), abs=1)
    assert diag["divergences"] == 3
    assert diag["draws"] == 2000


def test_compare_fits_ranks_only_converged_fits(X):
    good = _fake_fit(X, seed=1)
    other = _fake_fit(X, seed=2)
    # a 'fit' whose chains disagree: chain 0 sits elsewhere, so r_hat is far above 1
    stuck = _fake_fit(X, seed=3)
    mu = stuck.posterior["mu"].values.copy()
    mu[0] += 1.0
    stuck.posterior["mu"] = (stuck.posterior["mu"].dims, mu)
    stuck = add_log_likelihood(stuck, X)
    table = compare_fits({"a": good, "b": other, "stuck": stuck})
    assert list(table.index) == ["a", "b", "stuck"]
    assert table.loc["stuck", "r_hat"] > 1.5
    assert table.loc["stuck", "r_hat_loglik"] > 1.5  # chains in different places predict differently
    assert table.loc[["a", "b"], "r_hat_loglik"].max() < 1.05
    assert not table.loc["stuck", "converged"]
    assert table.loc[["a", "b"], "converged"].all()
    assert table["rank"].isna().tolist() == [False, False, True]
    expected = az.compare({"a": good, "b": other})
    assert table.loc["a", "rank"] == expected.loc["a", "rank"]
    assert table.loc["a", "elpd_loo"] == pytest.approx(expected.loc["a", "elpd_loo"])
    assert (table["pareto_k_bad"] >= 0).all()


def test_compare_fits_needs_log_likelihood(X):
    with pytest.raises(ValueError, match="add_log_likelihood"):
        compare_fits({"K=3": random_posterior()})
    with pytest.raises(ValueError, match="empty"):
        compare_fits({})


def test_bic_by_k_matches_sklearn_and_counts_parameters(X):
    table = bic_by_k(X, [1, 2, 3], n_init=2, random_state=0)
    assert list(table.index) == [1, 2, 3]
    for k in (1, 2, 3):
        gm = GaussianMixture(k, covariance_type="full", n_init=2, random_state=0).fit(X.to_numpy())
        assert table.loc[k, "bic"] == pytest.approx(gm.bic(X.to_numpy()))
        assert table.loc[k, "n_parameters"] == gm._n_parameters()
        # BIC = -2 log L + p log n
        assert table.loc[k, "bic"] == pytest.approx(
            -2 * table.loc[k, "log_likelihood"] + table.loc[k, "n_parameters"] * np.log(len(X))
        )
    with pytest.raises(ValueError, match="positive integer"):
        bic_by_k(X, [0])
    with pytest.raises(ValueError, match=f"more than the {len(X)} penguins"):
        bic_by_k(X, [len(X) + 1])
