"""Shared fixtures and references: the real data, small random posteriors in the models'
layout, and the SciPy and scikit-learn computations the package is checked against."""

from __future__ import annotations

from types import SimpleNamespace

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy.stats import multivariate_normal

from penguin_utils.data import FEATURES, load_penguins
from penguin_utils.scaling import fit_scaler

# `make test` gives each of its two workers a whole module at a time, in collection order
# (--dist loadfile --no-loadscope-reorder). Started first, the longest modules do not end up
# last on one worker while the other idles: cold-cache seconds measured in CI, longest first.
_LONGEST_FIRST = ("test_sampling", "test_check", "test_cli", "test_book_models", "test_book", "test_models")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.stem
        return _LONGEST_FIRST.index(name) if name in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module's own order is kept


@pytest.fixture(scope="session")
def penguins():
    return load_penguins()


@pytest.fixture(scope="session")
def scaler(penguins):
    return fit_scaler(penguins)


@pytest.fixture(scope="session")
def X(penguins, scaler):
    return scaler.transform(penguins)


def random_posterior(n_chain=2, n_draw=3, n_cluster=3, seed=0, with_packed=False, with_unconstrained=False):
    """An InferenceData with random ``w``, ``mu``, ``chol`` laid out as the models make them.

    ``with_packed`` adds the per-cluster ``chol_packed_k``; ``with_unconstrained`` also the
    unconstrained copies nutpie stores, with nutpie's names and dims: ``w_simplex__``
    (a stand-in value) and ``chol_packed_k_cholesky-cov-packed__`` (the packed factor with
    log diagonal, as PyMC's CholeskyCovPacked transform makes it).
    """
    rng = np.random.default_rng(seed)
    n_feature = len(FEATURES)
    w = rng.dirichlet(np.ones(n_cluster), size=(n_chain, n_draw))
    mu = rng.normal(0, 1, size=(n_chain, n_draw, n_cluster, n_feature))
    chol = np.tril(rng.normal(0, 0.3, size=(n_chain, n_draw, n_cluster, n_feature, n_feature)))
    diag = np.arange(n_feature)
    chol[..., diag, diag] = rng.uniform(0.3, 1.2, size=(n_chain, n_draw, n_cluster, n_feature))
    coords = {
        "chain": np.arange(n_chain),
        "draw": np.arange(n_draw),
        "cluster": np.arange(n_cluster),
        "feature": list(FEATURES),
        "feature_": list(FEATURES),
    }
    data = {
        "w": (("chain", "draw", "cluster"), w),
        "mu": (("chain", "draw", "cluster", "feature"), mu),
        "chol": (("chain", "draw", "cluster", "feature", "feature_"), chol),
    }
    if with_packed:
        rows, cols = np.tril_indices(n_feature)
        for k in range(n_cluster):
            # PyMC gives every packed variable a dim of its own
            packed = chol[:, :, k][..., rows, cols]
            data[f"chol_packed_{k}"] = (("chain", "draw", f"chol_packed_{k}_dim_0"), packed)
            if with_unconstrained:
                name = f"chol_packed_{k}_cholesky-cov-packed__"
                data[name] = (
                    ("chain", "draw", f"{name}_dim_0"),
                    np.where(rows == cols, np.log(np.abs(packed)), packed),
                )
    if with_unconstrained:
        data["w_simplex__"] = (("chain", "draw", "w_simplex___dim_0"), np.log(w[..., :-1] / w[..., -1:]))
    return az.InferenceData(posterior=xr.Dataset(data, coords=coords))


@pytest.fixture(scope="session")
def random_probabilities():
    """A factory of random per-draw cluster probabilities laid out as ``draw_probabilities``
    returns them: (chain, draw, penguin, cluster), each penguin's row a Dirichlet draw.

    The penguins are numbered from ``first_penguin`` (10 by default, so that a result indexed
    by position instead of by penguin shows).
    """

    def make(n_chain=2, n_draw=3, n_penguin=7, n_cluster=3, seed=0, concentration=0.7, first_penguin=10):
        rng = np.random.default_rng(seed)
        p = rng.dirichlet(np.full(n_cluster, concentration), size=(n_chain, n_draw, n_penguin))
        return xr.DataArray(
            p,
            dims=("chain", "draw", "penguin", "cluster"),
            coords={
                "chain": np.arange(n_chain),
                "draw": np.arange(n_draw),
                "penguin": np.arange(first_penguin, first_penguin + n_penguin),
                "cluster": np.arange(n_cluster),
            },
        )

    return make


def scipy_component_logp(idata, values: np.ndarray) -> np.ndarray:
    """``log w_k + log N(x_i | mu_k, L_k L_k^T)`` with SciPy, one draw at a time: (chain, draw, penguin, cluster)."""
    post = idata.posterior
    w, mu, chol = (post[v].values for v in ("w", "mu", "chol"))
    n_chain, n_draw, n_cluster = w.shape
    out = np.empty((n_chain, n_draw, len(values), n_cluster))
    for c in range(n_chain):
        for s in range(n_draw):
            for k in range(n_cluster):
                L = chol[c, s, k]
                out[c, s, :, k] = np.log(w[c, s, k]) + multivariate_normal(mu[c, s, k], L @ L.T).logpdf(values)
    return out


def sklearn_mixture(idata, chain: int = 0, draw: int = 0):
    """scikit-learn's ``GaussianMixture`` holding one posterior draw's parameters (nothing fitted)."""
    from sklearn.mixture import GaussianMixture

    post = idata.posterior.isel(chain=chain, draw=draw)
    chol = post["chol"].values
    gm = GaussianMixture(len(post["cluster"]), covariance_type="full")
    gm.weights_ = post["w"].values
    gm.means_ = post["mu"].values
    gm.covariances_ = chol @ np.swapaxes(chol, -1, -2)
    gm.precisions_cholesky_ = np.swapaxes(np.linalg.inv(chol), -1, -2)
    return gm


@pytest.fixture(scope="session")
def book_fit(X, scaler):
    """The book's fit (chapter 3's), from ``book/fits`` when the chapters saved it, else sampled and saved there.

    One per test session; the chapters that nbval runs afterwards then load it instead of
    sampling it again.
    """
    from pathlib import Path

    from penguin_utils.book import shared_fit

    return shared_fit(X, scaler, folder=Path(__file__).resolve().parents[1] / "book" / "fits")


@pytest.fixture(scope="session")
def compiled_mixture(X):
    """The book's fused K = 3 model compiled for nutpie, started at the EM solution: compiled
    once per session (even with warm caches, each compilation spends seconds rewriting the graph)."""
    from penguin_utils.models import build_mixture_model, em_initial_point
    from penguin_utils.sampling import compile_mixture

    return compile_mixture(build_mixture_model(X), em_initial_point(X))


@pytest.fixture(scope="session")
def pm_mixture(X):
    """Chapter 3's ``pm.Mixture`` model (``fused_logp=False``) with its log-density and gradient
    compiled once per session in FAST_COMPILE (values only): PyTensor takes about 8 s to build
    and rewrite that gradient graph, whatever the number of penguins.

    ``model``, ``logp`` and ``dlogp``; the functions take points of the model's value variables.
    """
    from penguin_utils.models import build_mixture_model

    model = build_mixture_model(X, fused_logp=False)
    return SimpleNamespace(
        model=model, logp=model.compile_logp(mode="FAST_COMPILE"), dlogp=model.compile_dlogp(mode="FAST_COMPILE")
    )
