"""The fused mixture log-likelihood against SciPy and against PyMC's own pm.Mixture."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from penguin_utils.mixture_logp import mvnormal_mixture_logp


def _params(seed, n=50, k=3, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.dirichlet(np.ones(k))
    mu = rng.normal(size=(k, d))
    chol = np.tril(rng.normal(0, 0.3, size=(k, d, d)))
    chol[:, np.arange(d), np.arange(d)] = rng.uniform(0.4, 1.5, size=(k, d))
    return X, w, mu, chol


def _symbolic():
    X, w, mu, chol = pt.matrix("X"), pt.vector("w"), pt.matrix("mu"), pt.tensor3("chol")
    return (X, w, mu, chol), mvnormal_mixture_logp(X, w, mu, chol)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_scipy(mode, seed):
    X, w, mu, chol = _params(seed)
    inputs, out = _symbolic()
    got = pytensor.function(list(inputs), out, mode=mode)(X, w, mu, chol)
    per_comp = np.stack(
        [np.log(w[k]) + multivariate_normal(mu[k], chol[k] @ chol[k].T).logpdf(X) for k in range(len(w))],
        axis=1,
    )
    np.testing.assert_allclose(got, logsumexp(per_comp, axis=1), rtol=1e-10, atol=1e-10)


@pytest.fixture(scope="module")
def pm_mixture_value_and_gradient():
    """pm.Mixture's log-likelihood of ``_params(2)`` and its gradient in w, mu and chol, computed
    once for both modes below (building and compiling that gradient takes PyTensor seconds)."""
    X, w, mu, chol = _params(2)
    Xs, ws, mus, chols = pt.matrix("X"), pt.vector("w"), pt.matrix("mu"), pt.tensor3("chol")
    comps = [pm.MvNormal.dist(mu=mus[k], chol=chols[k]) for k in range(3)]
    ref = pm.logp(pm.Mixture.dist(w=ws, comp_dists=comps, shape=X.shape), Xs).sum()
    f_ref = pytensor.function([Xs, ws, mus, chols], [ref, *pytensor.grad(ref, [ws, mus, chols])], mode="FAST_COMPILE")
    return f_ref(X, w, mu, chol)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
def test_value_and_gradient_match_pm_mixture(mode, pm_mixture_value_and_gradient):
    X, w, mu, chol = _params(2)
    (Xs, ws, mus, chols), out = _symbolic()
    ours = out.sum()
    f = pytensor.function([Xs, ws, mus, chols], [ours, *pytensor.grad(ours, [ws, mus, chols])], mode=mode)
    got, expected = f(X, w, mu, chol), pm_mixture_value_and_gradient
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-10)
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-10, atol=1e-10)
    # Only the lower triangle of chol is a parameter.
    np.testing.assert_allclose(np.tril(got[3]), np.tril(expected[3]), rtol=1e-10, atol=1e-10)
    assert np.all(np.triu(got[3], 1) == 0)


def test_gradient_matches_finite_differences():
    X, w, mu, chol = _params(3, n=20, k=2, d=3)
    rng = np.random.default_rng(0)
    g = rng.normal(size=len(X))  # a non-trivial upstream gradient

    def f(w_, mu_, chol_):
        return (mvnormal_mixture_logp(X, w_, mu_, pt.tril(chol_)) * g).sum()

    pytensor.gradient.verify_grad(f, [w, mu, chol], rng=rng, abs_tol=1e-6, rel_tol=1e-6)


def test_wrong_dimensions_are_refused():
    with pytest.raises(TypeError, match="chol must have 3 dimensions"):
        mvnormal_mixture_logp(pt.matrix(), pt.vector(), pt.matrix(), pt.matrix())


def test_kernel_exp_is_within_one_ulp_of_numpy():
    from penguin_utils._kernels import _exp_nonpositive

    rng = np.random.default_rng(0)
    a = np.concatenate([-rng.exponential(5, 10**5), -rng.uniform(0, 700, 10**5), [0.0, -1e-300, -0.34657359, -699.99]])
    got = a.copy()
    _exp_nonpositive(got, np.empty_like(got))
    np.testing.assert_allclose(got, np.exp(a), rtol=2.3e-16, atol=0)
    below = np.array([-700.0, -800.0, -np.inf])  # exp < 1e-304: exactly 0, so a weight of 0 stays 0
    _exp_nonpositive(below, np.empty(3))
    assert (below == 0).all()
