"""Read the shared mixture parameters out of a posterior, checking them once.

Every public function that takes a fit (assignment, saving, relabelling) goes through
:func:`mixture_draws`, so a posterior is checked the same way wherever it enters. This
module imports neither ArviZ nor PyMC (an ``InferenceData`` is recognised by its
``posterior`` group), and xarray only when given an xarray object: the command line reads a
fit's arrays without it (:func:`penguin_utils.io.read_draws`) and checks them here, with
:func:`draws_from_arrays`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["REQUIRED", "MixtureDraws", "as_posterior", "draws_from_arrays", "mixture_draws"]

#: The posterior variables every model of the book exposes, with their dims.
REQUIRED = {
    "w": ("chain", "draw", "cluster"),
    "mu": ("chain", "draw", "cluster", "feature"),
    "chol": ("chain", "draw", "cluster", "feature", "feature_"),
}

#: The coordinates a posterior's draws are labelled with.
COORDS = ("chain", "draw", "cluster", "feature", "feature_")

#: How far the weights of one draw may sum from 1 (float32 storage rounds at ~1e-7).
WEIGHT_SUM_TOLERANCE = 1e-6

_EXPECTED = "an arviz.InferenceData with a posterior group, or that posterior as an xarray.Dataset"


@dataclass(frozen=True)
class MixtureDraws:
    """Posterior draws of a Gaussian mixture as plain float arrays.

    Attributes
    ----------
    w : ndarray, shape (chain, draw, cluster)
    mu : ndarray, shape (chain, draw, cluster, feature)
    chol : ndarray, shape (chain, draw, cluster, feature, feature)
        Lower Cholesky factors of the component covariances (zeros above the diagonal).
    coords : dict
        ``chain``, ``draw``, ``cluster`` and ``feature`` coordinate values.
    """

    w: np.ndarray
    mu: np.ndarray
    chol: np.ndarray
    coords: dict


def as_posterior(idata, *, name: str = "idata") -> xr.Dataset:
    """The posterior ``Dataset`` of ``idata``, an ``InferenceData`` or the ``Dataset`` itself.

    Raises
    ------
    TypeError
        For anything else (a dict, a list, a DataFrame or array passed where the fit
        belongs, e.g. with the arguments swapped), naming what was expected.
    ValueError
        For an ``InferenceData`` without a posterior group.
    """
    import xarray as xr

    if isinstance(idata, xr.Dataset):
        return idata
    if isinstance(idata, (pd.DataFrame, np.ndarray)):
        raise TypeError(
            f"{name} must be {_EXPECTED}, got a {type(idata).__name__}. The fit comes first and the "
            "penguins second, e.g. assign_clusters(idata, X): were the arguments swapped?"
        )
    if type(idata).__name__ == "InferenceData" or isinstance(idata, xr.DataTree):
        groups = list(idata.groups() if callable(getattr(idata, "groups", None)) else idata.children)
        groups = [g.strip("/") for g in groups]
        if "posterior" not in groups:
            raise ValueError(
                f"{name} has no posterior group (it has {groups}). Pass the InferenceData returned by "
                "sampling (pm.sample or nutpie.sample) or by penguin_utils.io.load_fit."
            )
        posterior = idata["posterior"] if isinstance(idata, xr.DataTree) else idata.posterior
        return posterior.to_dataset() if isinstance(posterior, xr.DataTree) else posterior
    raise TypeError(f"{name} must be {_EXPECTED}, got {type(idata).__name__}.")


def mixture_draws(idata, features: Sequence[str] | None = None) -> MixtureDraws:
    """Extract ``w``, ``mu`` and ``chol`` from a posterior after checking them.

    Parameters
    ----------
    idata : arviz.InferenceData, xarray.Dataset or MixtureDraws
        A fit of either model, or its ``posterior`` group; a ``MixtureDraws`` (made by this
        function, so already checked) is returned as it is once its features match.
    features : sequence of str, optional
        If given, the ``feature`` coordinate of the posterior must equal it.

    Raises
    ------
    TypeError
        If ``idata`` is neither (see :func:`as_posterior`).
    ValueError
        If a variable is missing or has unexpected dims; the posterior has no draws;
        its features differ from ``features``; or the values are impossible: ``chol``
        with a non-zero entry above the diagonal, or a diagonal that is not positive and
        finite; ``w`` not finite, negative, or not summing to 1 per draw; ``mu`` not
        finite. The message names the variable, chain and draw.
    """
    if isinstance(idata, MixtureDraws):  # checked when it was made: only the features remain
        if features is not None and list(idata.coords["feature"]) != [str(f) for f in features]:
            raise ValueError(
                f"The posterior was fitted on features {idata.coords['feature']}, but X has {list(features)}. "
                "Pass the same columns, in the same order, as used for fitting."
            )
        return idata
    posterior = as_posterior(idata)
    variables = {name: (posterior[name].dims, posterior[name].values) for name in REQUIRED if name in posterior}
    coords = {name: posterior[name].values for name in COORDS if name in posterior.dims}  # absent: dims are wrong
    return draws_from_arrays(variables, coords, features)


def draws_from_arrays(
    variables: Mapping[str, tuple[tuple[str, ...], np.ndarray]],
    coords: Mapping[str, np.ndarray],
    features: Sequence[str] | None = None,
) -> MixtureDraws:
    """The checks of :func:`mixture_draws` on plain arrays, as read from a fit file.

    Parameters
    ----------
    variables : mapping
        ``{name: (dims, values)}`` for the posterior variables present (those of
        :data:`REQUIRED` are used, their absence is an error).
    coords : mapping
        The values of the :data:`COORDS` coordinates.
    features : sequence of str, optional
        As in :func:`mixture_draws`.

    Raises
    ------
    ValueError
        As :func:`mixture_draws`.
    """
    missing = [name for name in REQUIRED if name not in variables]
    if missing:
        raise ValueError(
            f"The posterior lacks the variable(s) {missing}; it needs {list(REQUIRED)} as built by "
            "penguin_utils.models.build_mixture_model or build_categorical_model."
        )
    for name, dims in REQUIRED.items():
        if tuple(variables[name][0]) != dims:
            raise ValueError(f"Posterior variable {name!r} has dims {tuple(variables[name][0])}, expected {dims}.")
    sizes = dict(zip(REQUIRED["chol"], np.shape(variables["chol"][1]), strict=True))
    empty = [d for d in ("chain", "draw", "cluster", "feature") if sizes[d] == 0]
    if empty:
        raise ValueError(f"The posterior has no {' and no '.join(empty)} entries; it needs at least one draw.")
    feature_names = [str(f) for f in coords["feature"]]
    if [str(f) for f in coords["feature_"]] != feature_names:
        raise ValueError("chol's feature and feature_ coordinates differ; both must list the fitted features.")
    if features is not None and feature_names != [str(f) for f in features]:
        raise ValueError(
            f"The posterior was fitted on features {feature_names}, but X has {list(features)}. "
            "Pass the same columns, in the same order, as used for fitting."
        )
    values = {}
    for name in REQUIRED:
        try:
            values[name] = np.asarray(variables[name][1], dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"Posterior variable {name!r} is not numeric: {err}") from err
    labels = {name: np.asarray(coords[name]) for name in ("chain", "draw", "cluster")}
    labels["feature"] = feature_names
    _check_values(values["w"], values["mu"], values["chol"], labels)
    return MixtureDraws(w=values["w"], mu=values["mu"], chol=values["chol"], coords=labels)


def _check_values(w: np.ndarray, mu: np.ndarray, chol: np.ndarray, coords: dict) -> None:
    n_feature = chol.shape[-1]
    upper = np.triu(np.ones((n_feature, n_feature), dtype=bool), k=1)
    diag = np.diagonal(chol, axis1=-2, axis2=-1)
    weight_sum = w.sum(axis=-1)
    chol_rule = "chol must hold lower Cholesky factors (zeros above a positive diagonal)"
    weight_rule = f"the weights of every draw must be non-negative and sum to 1 (within {WEIGHT_SUM_TOLERANCE:g})"
    # (variable, bad draws as a (chain, draw) mask, what is wrong, the rule) per check
    rules = [
        ("chol", (chol[..., upper] != 0).any(axis=(-1, -2)), "has a non-zero entry above the diagonal", chol_rule),
        (
            "chol",
            ~(np.isfinite(diag) & (diag > 0)).all(axis=(-1, -2)),
            "has a diagonal entry that is not positive and finite",
            chol_rule,
        ),
        (
            "chol",
            ~np.isfinite(np.where(upper, 0.0, chol)).all(axis=(-1, -2, -3)),
            "has a NaN or infinite entry",
            chol_rule,
        ),
        ("w", ~np.isfinite(w).all(axis=-1), "has a NaN or infinite weight", weight_rule),
        ("w", (w < 0).any(axis=-1), "has a negative weight", weight_rule),
        ("w", ~(np.abs(weight_sum - 1) <= WEIGHT_SUM_TOLERANCE), "has weights that do not sum to 1", weight_rule),
        ("mu", ~np.isfinite(mu).all(axis=(-1, -2)), "has a NaN or infinite mean", "every mean must be finite"),
    ]
    for name, bad, what, rule in rules:
        if bad.any():
            c, s = np.argwhere(bad)[0]
            detail = f" (they sum to {weight_sum[c, s]:.9g})" if "sum to 1" in what else ""
            raise ValueError(
                f"Posterior variable {name!r} {what} in chain {coords['chain'][c]}, draw {coords['draw'][s]}"
                f"{detail}; {int(bad.sum())} of {bad.size} draws are affected. {rule.capitalize()}: pass the "
                "posterior as sampled from penguin_utils.models (or loaded with load_fit), unedited."
            )
