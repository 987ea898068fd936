"""The sex-shift mixture against brute-force sums of SciPy densities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from conftest import random_posterior
from scipy.optimize import approx_fprime
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from penguin_utils.mixture_logp import mvnormal_mixture_logp
from penguin_utils.sex import (
    build_sex_mixture_model,
    draw_probabilities,
    joint_log_density,
    log_likelihood,
    male_probability,
    posterior_predictive,
    sex_codes,
    sex_initial_point,
)

MODE = "FAST_COMPILE"


def sex_posterior(n_chain=2, n_draw=3, seed=0):
    idata = random_posterior(n_chain, n_draw, seed=seed, with_packed=True)
    rng = np.random.default_rng(seed + 1)
    post = idata.posterior
    delta = rng.normal(0, 1, size=post["mu"].shape)
    pi = rng.uniform(0.1, 0.9, size=post["w"].shape)
    idata.posterior = post.assign(delta=(post["mu"].dims, delta), pi=(post["w"].dims, pi))
    return idata


def scipy_joint(idata, values):
    """log w_k p(s | k) N(x | mu_k + s delta_k, Sigma_k), one draw at a time: (chain, draw, penguin, sex, cluster)."""
    post = idata.posterior
    w, mu, chol, delta, pi = (post[v].values for v in ("w", "mu", "chol", "delta", "pi"))
    n_chain, n_draw, n_cluster = w.shape
    out = np.empty((n_chain, n_draw, len(values), 2, n_cluster))
    for c in range(n_chain):
        for d in range(n_draw):
            for k in range(n_cluster):
                cov = chol[c, d, k] @ chol[c, d, k].T
                for s, share in enumerate([1 - pi[c, d, k], pi[c, d, k]]):
                    mean = mu[c, d, k] + s * delta[c, d, k]
                    out[c, d, :, s, k] = np.log(w[c, d, k] * share) + multivariate_normal(mean, cov).logpdf(values)
    return out


@pytest.fixture(scope="module")
def small(X, penguins):
    """Twelve penguins of three species, three of them of unknown sex."""
    rows = X.index[[0, 1, 2, 160, 161, 162, 250, 251, 252, 3, 8, 9]]
    sex = penguins.loc[rows, "sex"].copy()
    sex.iloc[-3:] = None
    return X.loc[rows], sex


def test_sex_codes_and_their_errors(X):
    codes = sex_codes(pd.Series(["female", "male", None, np.nan], index=X.index[:4]), X.index[:4])
    np.testing.assert_array_equal(codes, [0, 1, -1, -1])
    with pytest.raises(ValueError, match=r"\['M'\].*female"):
        sex_codes(["female", "M"])
    with pytest.raises(ValueError, match="other penguins"):
        sex_codes(pd.Series(["male"], index=[99]), X.index[:1])
    with pytest.raises(ValueError, match="2 values but X has 3"):
        sex_codes(["male", "female"], X.index[:3])


def test_unnormalised_weights_gradient_matches_finite_differences():
    """The fused density with weights not summing to 1: value and gradient against SciPy."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 4))
    w0 = rng.uniform(0.05, 0.5, size=5)  # sums to < 1, as w_k pi_k does
    mu0 = rng.normal(size=(5, 4))
    L0 = np.tril(rng.normal(0, 0.3, size=(5, 4, 4))) + np.eye(4)
    w, mu, L = pt.vector("w"), pt.matrix("mu"), pt.tensor3("L")
    total = mvnormal_mixture_logp(x, w, mu, L).sum()
    f = pytensor.function([w, mu, L], [total, *pt.grad(total, [w, mu, L])], mode=MODE)

    def brute(flat):
        w_, mu_, L_ = flat[:5], flat[5:25].reshape(5, 4), flat[25:].reshape(5, 4, 4)
        comps = [np.log(w_[k]) + multivariate_normal(mu_[k], L_[k] @ L_[k].T).logpdf(x) for k in range(5)]
        return logsumexp(comps, axis=0).sum()

    flat = np.concatenate([w0, mu0.ravel(), L0.ravel()])
    value, *grads = f(w0, mu0, L0)
    np.testing.assert_allclose(value, brute(flat), rtol=1e-10)
    numeric = approx_fprime(flat, brute, 1e-6)
    ours = np.concatenate([grads[0], grads[1].ravel(), np.tril(grads[2]).ravel()])
    lower = np.concatenate([np.ones(25, bool), np.tril(np.ones((5, 4, 4), bool)).ravel()])
    np.testing.assert_allclose(ours[lower], numeric[lower], rtol=1e-4, atol=1e-4)


def test_model_log_likelihood_is_the_brute_force_sum(small):
    X, sex = small
    model = build_sex_mixture_model(X, sex)
    assert [v.name for v in model.free_RVs] == ["w", "mu", "chol_packed_0", "chol_packed_1", "chol_packed_2"] + [
        "delta",
        "pi",
    ]
    assert [p.name for p in model.potentials] == ["x_female", "x_male", "x_unknown"]
    start = sex_initial_point(X)
    start["delta"] = np.linspace(-1, 1, 12).reshape(3, 4)
    start["pi"] = np.array([0.2, 0.5, 0.7])
    f = model.compile_fn(model.potentiallogp, inputs=model.value_vars, mode=MODE, on_unused_input="ignore")
    point = {
        model.rvs_to_values[model[name]].name: model.rvs_to_transforms[model[name]].forward(pt.as_tensor(value)).eval()
        if model.rvs_to_transforms.get(model[name]) is not None
        else value
        for name, value in start.items()
    }
    ours = f(point)
    # Brute force on the same parameters.
    rows, cols = np.tril_indices(4)
    chol = np.zeros((3, 4, 4))
    for k in range(3):
        chol[k][rows, cols] = start[f"chol_packed_{k}"]
    codes = sex_codes(sex)
    total = 0.0
    for x, s in zip(X.to_numpy(), codes, strict=True):
        terms = [
            np.log(start["w"][k] * (start["pi"][k] if sx else 1 - start["pi"][k]))
            + multivariate_normal(start["mu"][k] + sx * start["delta"][k], chol[k] @ chol[k].T).logpdf(x)
            for k in range(3)
            for sx in ([0, 1] if s < 0 else [s])
        ]
        total += logsumexp(terms)
    np.testing.assert_allclose(ours, total, rtol=1e-10)


def test_build_refuses_bad_input(X):
    with pytest.raises(ValueError, match="delta_sigma"):
        build_sex_mixture_model(X.iloc[:5], ["male"] * 5, delta_sigma=0.0)
    with pytest.raises(ValueError, match="sex has 4 values"):
        build_sex_mixture_model(X.iloc[:5], ["male"] * 4)


def test_posterior_functions_match_scipy(small):
    X, sex = small
    idata = sex_posterior()
    joint = scipy_joint(idata, X.to_numpy())
    np.testing.assert_allclose(joint_log_density(idata, X).values, joint, rtol=1e-9)
    by_sex = logsumexp(joint, axis=-1)
    codes = sex_codes(sex)
    post = idata.posterior
    p_male = (post["w"] * post["pi"]).sum("cluster").values
    expected = logsumexp(by_sex, axis=-1)
    for i, s in enumerate(codes):
        if s >= 0:
            expected[..., i] = by_sex[..., i, s] - np.log(p_male if s else 1 - p_male)
    np.testing.assert_allclose(log_likelihood(idata, X, sex).values, expected, rtol=1e-9)
    male = np.exp(by_sex[..., 1] - logsumexp(by_sex, axis=-1))
    np.testing.assert_allclose(male_probability(idata, X).values, male, rtol=1e-9)
    probs = draw_probabilities(idata, X, sex).values
    for i, s in enumerate(codes):
        logp = logsumexp(joint[..., i, :, :], axis=-2) if s < 0 else joint[..., i, s, :]
        np.testing.assert_allclose(probs[..., i, :], np.exp(logp - logsumexp(logp, -1, keepdims=True)), rtol=1e-9)


def test_posterior_predictive_draws_the_right_mixture():
    """Means and male shares of replicated penguins against the parameters, within 5 standard errors."""
    idata = sex_posterior(n_chain=1, n_draw=1)
    idata.posterior = idata.posterior.isel(draw=[0] * 20000).assign_coords(draw=np.arange(20000))
    post = idata.posterior.isel(chain=0, draw=0)
    w, mu, delta, pi = (post[v].values for v in ("w", "mu", "delta", "pi"))
    sex = pd.Series(["female", "male", None], index=[10, 11, 12])
    rep = posterior_predictive(idata, sex, random_seed=1).isel(chain=0).values  # (draw, penguin, feature)
    given = {0: w * (1 - pi), 1: w * pi}
    expected = [
        (given[0] / given[0].sum()) @ mu,
        (given[1] / given[1].sum()) @ (mu + delta),
        given[0] @ mu + given[1] @ (mu + delta),
    ]
    for i, mean in enumerate(expected):
        se = rep[:, i].std(axis=0) / np.sqrt(len(rep))
        assert np.all(np.abs(rep[:, i].mean(axis=0) - mean) < 5 * se)
