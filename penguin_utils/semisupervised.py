"""The mixture with a few known labels: semi-supervised clustering (chapter 14).

A penguin whose species is known comes from that species' component, so its likelihood
is that component's term ``log w_k + log N(x_i | mu_k, Sigma_k)`` instead of the sum over
components; the other penguins keep the mixture. Component ``k`` is tied to the ``k``-th
label (the chapter uses :data:`~penguin_utils.data.SPECIES` order), so renumbering the
components changes the labelled penguins' term: the posterior no longer has one copy per
permutation of the labels, and there is nothing to switch.

The penguins enter as ``pm.Data`` (``x_unlabelled`` and ``x_labelled_k``), so one
compiled model fits every choice of labelled penguins: :func:`labelled_data` gives the
arrays for nutpie's ``compiled.with_data(...)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pymc as pm

from penguin_utils._validation import check_positive_int, check_scaled
from penguin_utils.data import FEATURES, SPECIES
from penguin_utils.mixture_logp import mvnormal_mixture_logp
from penguin_utils.models import PriorSettings, _cluster_priors, _coords, em_initial_point

__all__ = [
    "build_labelled_mixture_model",
    "labelled_data",
    "labelled_initial_point",
    "pick_labelled",
    "species_labels",
]


def species_labels(species: pd.Series, known: Sequence | pd.Index, *, order: Sequence[str] = SPECIES) -> pd.Series:
    """Component labels for the penguins in ``known``, NaN for the others.

    Parameters
    ----------
    species : pandas.Series, shape (n_penguins,)
        Every penguin's species, indexed by penguin.
    known : sequence or Index
        The penguins whose species the model may use (index values of ``species``).
    order : sequence of str, default SPECIES
        Species in component order: a penguin of ``order[k]`` is labelled ``k``.

    Returns
    -------
    pandas.Series of float, shape (n_penguins,)
        Aligned with ``species``; the component index, or NaN when unknown.
    """
    if not isinstance(species, pd.Series):
        raise TypeError(f"species must be a pandas Series indexed by penguin, got {type(species).__name__}.")
    known = pd.Index(known)
    absent = known.difference(species.index)
    if len(absent):
        raise ValueError(f"known lists penguins that species does not have: {list(absent[:5])}.")
    names = species.loc[known].astype(str)
    unknown = sorted(set(names) - set(order))
    if unknown:
        raise ValueError(f"species holds {unknown}, which are not in order={list(order)}; add them to order.")
    labels = pd.Series(np.nan, index=species.index, name="label")
    labels.loc[known] = [list(order).index(s) for s in names]
    return labels


def pick_labelled(
    species: pd.Series, n_per_species: int, *, random_seed: int = 0, order: Sequence[str] = SPECIES
) -> pd.Series:
    """Label ``n_per_species`` penguins of each species, chosen at random.

    Parameters
    ----------
    species : pandas.Series, shape (n_penguins,)
        Every penguin's species, indexed by penguin.
    n_per_species : int
        Penguins labelled per species; 0 labels none.
    random_seed : int, default 0
        The same seed picks the same penguins.
    order : sequence of str, default SPECIES
        Species in component order (see :func:`species_labels`).

    Returns
    -------
    pandas.Series of float, shape (n_penguins,)
        As :func:`species_labels`: the component index of the picked penguins, NaN elsewhere.
    """
    if not isinstance(species, pd.Series):
        raise TypeError(f"species must be a pandas Series indexed by penguin, got {type(species).__name__}.")
    if isinstance(n_per_species, bool) or not isinstance(n_per_species, (int, np.integer)) or n_per_species < 0:
        raise ValueError(f"n_per_species must be a whole number, 0 or more, got {n_per_species!r}.")
    rng = np.random.default_rng(random_seed)
    known = []
    for name in order:
        members = species.index[species.astype(str) == name]
        if n_per_species > len(members):
            raise ValueError(f"n_per_species={n_per_species} is more than the {len(members)} {name} penguins.")
        known.extend(rng.choice(members, size=n_per_species, replace=False))
    return species_labels(species, known, order=order)


def _check_labels(labels, index: pd.Index, n_clusters: int) -> np.ndarray:
    """``labels`` as integers (penguin,), -1 for unknown, after checking alignment and range."""
    if not isinstance(labels, pd.Series):
        raise TypeError(
            f"labels must be a pandas Series indexed like X (component index, NaN or -1 when unknown), "
            f"got {type(labels).__name__}; make it with pick_labelled or species_labels."
        )
    if not labels.index.equals(index):
        raise ValueError(
            "labels and X are indexed by different penguins; pass labels.reindex(X.index) "
            "(missing penguins become NaN, unlabelled)."
        )
    try:
        values = labels.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"labels must hold component indices (0 to {n_clusters - 1}) or NaN, not species names: {err}. "
            "Convert names with species_labels."
        ) from err
    values = np.where(np.isnan(values), -1.0, values)
    bad = (values != np.round(values)) | (values < -1) | (values >= n_clusters)
    if bad.any():
        raise ValueError(
            f"labels must be component indices 0 to {n_clusters - 1}, or NaN/-1 for unknown; "
            f"got {np.unique(labels[bad]).tolist()} (penguins {list(index[bad][:5])})."
        )
    return values.astype(int)


def labelled_data(
    X: pd.DataFrame | np.ndarray, labels: pd.Series, n_clusters: int = 3, *, features: Sequence[str] = FEATURES
) -> dict[str, np.ndarray]:
    """The model's data for these labels: ``x_unlabelled`` and ``x_labelled_k``.

    Returns
    -------
    dict
        ``{"x_unlabelled": (n_unlabelled, n_features), "x_labelled_k": (n_k, n_features)}``
        for ``k`` in ``range(n_clusters)``; a component without labelled penguins gets an
        empty (0, n_features) array. Pass it to nutpie's ``compiled.with_data(**data)``
        to fit another choice of labelled penguins without compiling again.
    """
    values, index = check_scaled(X, features)
    n_clusters = check_positive_int(n_clusters, "n_clusters", at_most=len(values), of="penguins in X")
    codes = _check_labels(labels, index, n_clusters)
    data = {"x_unlabelled": values[codes == -1]}
    for k in range(n_clusters):
        data[f"x_labelled_{k}"] = values[codes == k]
    return data


def build_labelled_mixture_model(
    X: pd.DataFrame | np.ndarray,
    labels: pd.Series,
    n_clusters: int = 3,
    *,
    priors: PriorSettings | Mapping[str, float] | None = None,
    features: Sequence[str] = FEATURES,
) -> pm.Model:
    """The mixture model of chapter 3 with some penguins' components known.

    Same priors and variables as :func:`~penguin_utils.models.build_mixture_model`; the
    likelihood has one term for the unlabelled penguins (the mixture, the fused density
    of :mod:`penguin_utils.mixture_logp`) and one per component for the penguins
    labelled with it, a one-component "mixture" with the unnormalised weight ``w_k``:
    ``log w_k + log N(x_i | mu_k, Sigma_k)``.

    Parameters
    ----------
    X : DataFrame or ndarray, shape (n_penguins, n_features)
        Scaled measurements.
    labels : pandas.Series, shape (n_penguins,)
        Indexed like ``X``: each penguin's component (0 to ``n_clusters - 1``), or NaN
        (or -1) when unknown; all unknown gives chapter 3's model. See :func:`pick_labelled`.
    n_clusters : int, default 3
    priors : PriorSettings or mapping, optional
        As in :func:`~penguin_utils.models.build_mixture_model`.
    features : sequence of str
        Names of the columns of ``X``.

    Returns
    -------
    pymc.Model
        Free ``w``, ``mu``, ``chol_packed_{k}``; deterministic ``chol``; data
        ``x_unlabelled`` and ``x_labelled_{k}`` (see :func:`labelled_data`), observed by
        the likelihood terms of the same names with ``_logp`` appended (``pm.Potential``).
    """
    data = labelled_data(X, labels, n_clusters, features=features)
    n_clusters = len(data) - 1
    priors = PriorSettings.coerce(priors)
    index = pd.RangeIndex(0) if isinstance(X, np.ndarray) else X.index
    coords = {k: v for k, v in _coords(index, n_clusters, features).items() if k != "penguin"}
    with pm.Model(coords=coords) as model:
        w, mu, _, chol = _cluster_priors(n_clusters, len(features), priors)
        x = pm.Data("x_unlabelled", data["x_unlabelled"])
        pm.Potential("x_unlabelled_logp", mvnormal_mixture_logp(x, w, mu, chol).sum())
        for k in range(n_clusters):
            x_k = pm.Data(f"x_labelled_{k}", data[f"x_labelled_{k}"])
            one = slice(k, k + 1)  # component k alone, its weight unnormalised
            pm.Potential(f"x_labelled_{k}_logp", mvnormal_mixture_logp(x_k, w[one], mu[one], chol[one]).sum())
    return model


def labelled_initial_point(
    X: pd.DataFrame | np.ndarray,
    labels: pd.Series,
    n_clusters: int = 3,
    *,
    random_seed: int = 0,
    features: Sequence[str] = FEATURES,
) -> dict[str, np.ndarray]:
    """Chapter 3's EM start with its components renumbered to agree with the labels.

    :func:`~penguin_utils.models.em_initial_point` numbers the EM components by their
    first mean; here component ``k`` must be the one the penguins labelled ``k`` belong
    to, so the components are permuted to maximise the labelled penguins' summed log
    responsibility (an assignment problem). Without labels the EM order is kept.

    Returns
    -------
    dict
        As :func:`~penguin_utils.models.em_initial_point`.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.stats import multivariate_normal

    data = labelled_data(X, labels, n_clusters, features=features)
    point = em_initial_point(X, n_clusters, random_seed=random_seed, features=features)
    rows, cols = np.tril_indices(len(features))
    score = np.zeros((n_clusters, n_clusters))  # [label, EM component]
    for j in range(n_clusters):
        chol = np.zeros((len(features), len(features)))
        chol[rows, cols] = point[f"chol_packed_{j}"]
        for k in range(n_clusters):
            x_k = data[f"x_labelled_{k}"]
            if len(x_k):
                density = multivariate_normal(point["mu"][j], chol @ chol.T)
                score[k, j] = np.sum(np.log(point["w"][j]) + density.logpdf(x_k))
    _, order = linear_sum_assignment(-score)
    renumbered = {"w": point["w"][order], "mu": point["mu"][order]}
    for k, j in enumerate(order):
        renumbered[f"chol_packed_{k}"] = point[f"chol_packed_{j}"]
    return renumbered
