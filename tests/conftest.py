"""Shared fixtures: the real data, and small random posteriors in the models' layout."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

from penguin_utils.data import FEATURES, load_penguins
from penguin_utils.scaling import fit_scaler


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
