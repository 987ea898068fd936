"""Read the shared mixture parameters out of an ``InferenceData``, checking them once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

#: The posterior variables every model of the book exposes, with their dims.
REQUIRED = {
    "w": ("chain", "draw", "cluster"),
    "mu": ("chain", "draw", "cluster", "feature"),
    "chol": ("chain", "draw", "cluster", "feature", "feature_"),
}


@dataclass(frozen=True)
class MixtureDraws:
    """Posterior draws of a Gaussian mixture as plain arrays.

    Attributes
    ----------
    w : ndarray, shape (chain, draw, cluster)
    mu : ndarray, shape (chain, draw, cluster, feature)
    chol : ndarray, shape (chain, draw, cluster, feature, feature)
        Lower Cholesky factors of the component covariances.
    coords : dict
        ``chain``, ``draw``, ``cluster`` and ``feature`` coordinate values.
    """

    w: np.ndarray
    mu: np.ndarray
    chol: np.ndarray
    coords: dict


def mixture_draws(idata, features: Sequence[str] | None = None) -> MixtureDraws:
    """Extract ``w``, ``mu`` and ``chol`` from ``idata.posterior`` after checking them.

    Parameters
    ----------
    idata : arviz.InferenceData or xarray.Dataset
        A fit of either model (or its ``posterior`` group).
    features : sequence of str, optional
        If given, the ``feature`` coordinate of the posterior must equal it.

    Raises
    ------
    ValueError
        If the posterior is missing, lacks a variable, has unexpected dims, cluster
        counts that disagree, features that differ from ``features``, or Cholesky
        factors without a positive diagonal.
    """
    posterior = idata if isinstance(idata, xr.Dataset) else getattr(idata, "posterior", None)
    if posterior is None:
        raise ValueError(
            "idata has no posterior group. Pass the InferenceData returned by sampling "
            "(pm.sample or nutpie.sample) or by penguin_utils.io.load_fit."
        )
    missing = [name for name in REQUIRED if name not in posterior]
    if missing:
        raise ValueError(
            f"The posterior lacks the variable(s) {missing}; it needs {list(REQUIRED)} as built by "
            "penguin_utils.models.build_mixture_model or build_categorical_model."
        )
    for name, dims in REQUIRED.items():
        if posterior[name].dims != dims:
            raise ValueError(f"Posterior variable {name!r} has dims {posterior[name].dims}, expected {dims}.")
    feature_names = [str(f) for f in posterior["mu"].coords["feature"].values]
    if features is not None and feature_names != [str(f) for f in features]:
        raise ValueError(
            f"The posterior was fitted on features {feature_names}, but X has {list(features)}. "
            "Pass the same columns, in the same order, as used for fitting."
        )
    chol = posterior["chol"].values
    diag = np.diagonal(chol, axis1=-2, axis2=-1)
    if not np.all(diag > 0) or not np.all(np.isfinite(chol)):
        raise ValueError("chol must hold lower Cholesky factors with a positive, finite diagonal.")
    coords = {
        "chain": posterior["chain"].values,
        "draw": posterior["draw"].values,
        "cluster": posterior["cluster"].values,
        "feature": feature_names,
    }
    return MixtureDraws(
        w=posterior["w"].values, mu=posterior["mu"].values, chol=chol, coords=coords
    )
