"""The assignment kernel against SciPy, in every mode, for every number of features.

``over_draws`` computes each penguin's residuals in registers for up to 4 features (fewer
are padded) and with the generic forward substitution beyond; both, and the one-pass exp
they normalise with, are checked here against ``scipy.stats.multivariate_normal`` and
``scipy.special.logsumexp`` draw by draw.
"""

import numba
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from penguin_utils import _kernels


def random_draws(n_sample: int, n_cluster: int, n_feature: int, seed: int):
    """``w`` (S, K), ``mu`` (S, K, D) and lower-triangular ``chol`` (S, K, D, D) with a positive diagonal."""
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(n_cluster), size=n_sample)
    mu = rng.normal(0, 1, size=(n_sample, n_cluster, n_feature))
    chol = np.tril(rng.normal(0, 0.3, size=(n_sample, n_cluster, n_feature, n_feature)))
    diag = np.arange(n_feature)
    chol[..., diag, diag] = rng.uniform(0.2, 1.2, size=(n_sample, n_cluster, n_feature))
    return w, mu, chol


def scipy_logp(X, w, mu, chol) -> np.ndarray:
    """``log w_k + log N(x_i | mu_k, L L^T)``, one draw and cluster at a time: (S, N, K)."""
    n_sample, n_cluster = w.shape
    out = np.empty((n_sample, len(X), n_cluster))
    for s in range(n_sample):
        for k in range(n_cluster):
            L = chol[s, k]
            out[s, :, k] = np.log(w[s, k]) + multivariate_normal(mu[s, k], L @ L.T).logpdf(X)
    return out


@pytest.mark.parametrize("n_feature", [1, 2, 4, 5])
def test_over_draws_matches_scipy_in_every_mode(n_feature):
    w, mu, chol = random_draws(n_sample=6, n_cluster=3, n_feature=n_feature, seed=n_feature)
    rng = np.random.default_rng(10 + n_feature)
    X = rng.normal(0, 1.5, size=(600, n_feature))  # two full blocks of 256 and part of a third
    X[:20] *= 25  # far from every cluster: some probabilities underflow to 0, none is NaN
    lp = scipy_logp(X, w, mu, chol)
    loglik = logsumexp(lp, axis=2, keepdims=True)
    probs = np.exp(lp - loglik)

    got = {what: _kernels.over_draws(X, w, mu, chol, what) for what in range(4)}
    np.testing.assert_allclose(got[_kernels.COMPONENT_LOGP], lp, rtol=1e-12)
    np.testing.assert_allclose(got[_kernels.LOG_LIKELIHOOD], loglik, rtol=1e-12)
    np.testing.assert_allclose(got[_kernels.PROBABILITIES], probs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got[_kernels.MEAN_PROBABILITIES], probs.mean(axis=0, keepdims=True), rtol=0, atol=1e-12)
    assert (got[_kernels.PROBABILITIES] == 0).any()  # the underflow was exercised
    assert not any(np.isnan(v).any() for v in got.values())


@numba.njit(fastmath=_kernels._EXACT_ORDER)  # the flags of every caller in _kernels
def _exp_le0_of(a):
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = _kernels._exp_le0(a[i])
    return out


def test_one_pass_exp_is_within_one_ulp_and_equals_the_samplers():
    rng = np.random.default_rng(0)
    a = -np.concatenate([rng.exponential(5, 10**5), rng.uniform(0, 700, 10**5), [0.0, 1e-300, 0.34657359, 699.99]])
    got = _exp_le0_of(a)
    np.testing.assert_allclose(got, np.exp(a), rtol=2.3e-16, atol=0)
    three_passes = a.copy()
    _kernels._exp_nonpositive(three_passes, np.empty_like(a))
    np.testing.assert_array_equal(got, three_passes)
    below = np.array([-700.0, -745.2, -800.0, -1e300, -np.inf])  # exp < 1e-304: exactly 0, never NaN
    assert (_exp_le0_of(below) == 0).all()
