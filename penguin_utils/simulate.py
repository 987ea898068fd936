"""Does the fit recover a truth it was given? Simulate penguins, refit, count the covered truths.

The first check of the Bayesian workflow (chapter 16): draw data sets from known mixture
parameters with :func:`simulate_mixture`, fit each with the book's recipe, and count how
often the 94 % posterior interval of each parameter holds its true value
(:func:`interval_coverage`, with the Monte Carlo uncertainty of that share from
:func:`binomial_interval`). Parameters are compared as a reader interprets them: weights,
means, standard deviations and correlations (:func:`mixture_parameters`), not as Cholesky
factors.

The data sets are fitted with one compiled model: the book's model, whose measurements are
in ``pm.Data`` (``build_mixture_model(X)``, named :data:`~penguin_utils.models.DATA_NAME`), and
:func:`with_dataset` gives nutpie's compiled model another data set and that data set's EM
start without compiling again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pymc as pm

from penguin_utils._validation import check_positive_int, check_scaled
from penguin_utils.data import FEATURES
from penguin_utils.models import DATA_NAME, em_initial_point
from penguin_utils.sampling import unconstrained_vector

__all__ = [
    "DATA_NAME",
    "binomial_interval",
    "interval_coverage",
    "mixture_parameters",
    "parameter_index",
    "simulate_mixture",
    "with_dataset",
]


def _check_mixture(w, mu, chol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``w`` (K,), ``mu`` (K, D), ``chol`` (K, D, D) as float arrays, after checking them."""
    w, mu, chol = (np.asarray(v, dtype=float) for v in (w, mu, chol))
    if w.ndim != 1 or mu.ndim != 2 or chol.ndim != 3:
        raise ValueError(
            f"w, mu and chol must have shapes (K,), (K, D) and (K, D, D), got {w.shape}, {mu.shape} and "
            f"{chol.shape}; pass one set of parameters, not posterior draws."
        )
    k, d = mu.shape
    if w.shape != (k,) or chol.shape != (k, d, d):
        raise ValueError(
            f"w, mu and chol disagree on the number of clusters or features: shapes {w.shape}, {mu.shape}, "
            f"{chol.shape}; expected ({k},), ({k}, {d}) and ({k}, {d}, {d})."
        )
    if not (np.isfinite(w).all() and np.isfinite(mu).all() and np.isfinite(chol).all()):
        raise ValueError("w, mu and chol must be finite.")
    if (w < 0).any() or not np.isclose(w.sum(), 1.0, atol=1e-8):
        raise ValueError(f"w must hold non-negative weights summing to 1, got {w.tolist()} (sum {w.sum():.9g}).")
    diag = np.diagonal(chol, axis1=-2, axis2=-1)
    if (np.triu(chol, k=1) != 0).any() or (diag <= 0).any():
        raise ValueError(
            "chol must hold lower Cholesky factors: zeros above a positive diagonal "
            "(np.linalg.cholesky of each covariance matrix)."
        )
    return w, mu, chol


def simulate_mixture(
    w, mu, chol, n_penguins: int, *, n_datasets: int = 1, random_seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw data sets of penguins, and their true clusters, from a Gaussian mixture.

    Each penguin's cluster is drawn with probabilities ``w``, then its measurements from
    that cluster's normal, ``mu_k + L_k e`` with ``e`` standard normal: the generative
    story of the book's model, for all data sets at once.

    Parameters
    ----------
    w : array_like, shape (n_clusters,)
        Mixture weights, non-negative and summing to 1.
    mu : array_like, shape (n_clusters, n_features)
        Component means.
    chol : array_like, shape (n_clusters, n_features, n_features)
        Lower Cholesky factors of the component covariances.
    n_penguins : int
        Penguins per data set.
    n_datasets : int, default 1
    random_seed : int, default 0

    Returns
    -------
    X : ndarray, shape (n_datasets, n_penguins, n_features)
        The measurements.
    labels : ndarray of int, shape (n_datasets, n_penguins)
        The cluster each penguin was drawn from.
    """
    w, mu, chol = _check_mixture(w, mu, chol)
    n_penguins = check_positive_int(n_penguins, "n_penguins")
    n_datasets = check_positive_int(n_datasets, "n_datasets")
    rng = np.random.default_rng(random_seed)
    labels = rng.choice(len(w), size=(n_datasets, n_penguins), p=w)
    noise = rng.standard_normal((n_datasets, n_penguins, mu.shape[1]))
    X = mu[labels] + np.einsum("snij,snj->sni", chol[labels], noise)
    return X, labels


def parameter_index(n_clusters: int, features: Sequence[str] = FEATURES) -> pd.MultiIndex:
    """Names of the entries of :func:`mixture_parameters`, in its order.

    Returns
    -------
    pandas.MultiIndex
        Levels ``group`` (``"w"``, ``"mu"``, ``"sd"``, ``"corr"``), ``cluster`` and
        ``name`` (the feature, a pair of features ``"a ~ b"`` for a correlation, or
        ``""`` for a weight); ``K (2D + 1) + K D (D - 1) / 2`` entries.
    """
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    features = list(features)
    rows, cols = np.tril_indices(len(features), k=-1)
    pairs = [f"{features[c]} ~ {features[r]}" for r, c in zip(rows, cols, strict=True)]
    entries = [("w", k, "") for k in range(n_clusters)]
    for group, names in (("mu", features), ("sd", features), ("corr", pairs)):
        entries += [(group, k, name) for k in range(n_clusters) for name in names]
    return pd.MultiIndex.from_tuples(entries, names=["group", "cluster", "name"])


def mixture_parameters(w, mu, chol) -> np.ndarray:
    """Weights, means, standard deviations and correlations, flattened in one array.

    The covariance ``Sigma_k = L_k L_k^T`` is read as its standard deviations
    ``sqrt(diag Sigma_k)`` and the correlations below its diagonal, the quantities a
    reader interprets (a Cholesky entry mixes both). Any leading dims (data sets, chains,
    draws) are kept.

    Parameters
    ----------
    w : array_like, shape (..., n_clusters)
    mu : array_like, shape (..., n_clusters, n_features)
    chol : array_like, shape (..., n_clusters, n_features, n_features)

    Returns
    -------
    ndarray, shape (..., n_parameters)
        In the order of :func:`parameter_index`.
    """
    w, mu, chol = (np.asarray(v, dtype=float) for v in (w, mu, chol))
    if mu.ndim < 2 or chol.shape != mu.shape + mu.shape[-1:] or w.shape != mu.shape[:-1]:
        raise ValueError(
            "w, mu and chol must have shapes (..., K), (..., K, D) and (..., K, D, D) with the same "
            f"leading dims, got {w.shape}, {mu.shape} and {chol.shape}."
        )
    lead = mu.shape[:-2]
    cov = chol @ np.swapaxes(chol, -1, -2)
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    rows, cols = np.tril_indices(mu.shape[-1], k=-1)
    corr = cov[..., rows, cols] / (sd[..., rows] * sd[..., cols])
    parts = [w, mu.reshape(*lead, -1), sd.reshape(*lead, -1), corr.reshape(*lead, -1)]
    return np.concatenate(parts, axis=-1)


def interval_coverage(draws, truth, *, mass: float = 0.94) -> np.ndarray:
    """Whether each true value lies in its central posterior interval, for all data sets at once.

    The interval runs from the ``(1 - mass) / 2`` to the ``(1 + mass) / 2`` quantile of
    the draws (equal tails, so a miss can be told apart as too low or too high).

    Parameters
    ----------
    draws : array_like, shape (n_datasets, n_draws, n_parameters)
        Posterior draws of every parameter, per data set (chains stacked).
    truth : array_like, shape (n_parameters,) or (n_datasets, n_parameters)
        The values the data were simulated from.
    mass : float, default 0.94
        Probability mass of the interval, strictly between 0 and 1.

    Returns
    -------
    ndarray of bool, shape (n_datasets, n_parameters)
        True where the interval, ends included, holds the true value.
    """
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 3 or draws.shape[1] == 0:
        raise ValueError(
            f"draws must have shape (n_datasets, n_draws, n_parameters) with at least one draw, got {draws.shape}; "
            "stack the chains of each fit into one draws axis."
        )
    n_datasets, _, n_parameters = draws.shape
    truth = np.asarray(truth, dtype=float)
    if truth.shape not in ((n_parameters,), (n_datasets, n_parameters)):
        raise ValueError(
            f"truth must have shape ({n_parameters},) or ({n_datasets}, {n_parameters}) to match draws, "
            f"got {truth.shape}."
        )
    if not (isinstance(mass, (float, int)) and 0 < mass < 1):
        raise ValueError(f"mass must be a probability strictly between 0 and 1, got {mass!r}.")
    if not (np.isfinite(draws).all() and np.isfinite(truth).all()):
        raise ValueError("draws and truth must be finite.")
    low, high = np.quantile(draws, [(1 - mass) / 2, (1 + mass) / 2], axis=1)
    return (low <= truth) & (truth <= high)


def binomial_interval(hits, trials, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson interval for a share of hits: the Monte Carlo uncertainty of a coverage.

    Exact (conservative) for independent trials. Parameters of one data set are not
    independent of each other, so for a share pooled over parameters the interval is
    too narrow; per parameter, over independent data sets, it is exact.

    Parameters
    ----------
    hits, trials : int or array_like of int
        Hits out of trials, element-wise; ``0 <= hits <= trials`` and ``trials >= 1``.
    level : float, default 0.95
        Confidence level, strictly between 0 and 1.

    Returns
    -------
    low, high : ndarray of float
        Bounds of the share, shaped like ``hits`` and ``trials`` broadcast together.
    """
    from scipy.stats import beta

    hits, trials = np.broadcast_arrays(np.asarray(hits), np.asarray(trials))
    if not (np.issubdtype(hits.dtype, np.integer) and np.issubdtype(trials.dtype, np.integer)):
        raise TypeError("hits and trials must be integer counts.")
    if (trials < 1).any() or (hits < 0).any() or (hits > trials).any():
        raise ValueError("hits and trials must satisfy 0 <= hits <= trials and trials >= 1.")
    if not (isinstance(level, float) and 0 < level < 1):
        raise ValueError(f"level must be a probability strictly between 0 and 1, got {level!r}.")
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        low = np.where(hits == 0, 0.0, beta.ppf(tail, hits, trials - hits + 1))
        high = np.where(hits == trials, 1.0, beta.ppf(1 - tail, hits + 1, trials - hits))
    return low, high


def with_dataset(compiled, model: pm.Model, X: pd.DataFrame | np.ndarray, *, random_seed: int = 0):
    """The compiled model with another data set, its chains starting at that data set's EM solution.

    Parameters
    ----------
    compiled : nutpie.CompiledModel
        :func:`~penguin_utils.sampling.compile_mixture` of ``model``.
    model : pymc.Model
        From ``build_mixture_model(X)``.
    X : DataFrame or ndarray, shape (n_penguins, n_features)
        Scaled measurements, as many penguins as the model was built with.
    random_seed : int, default 0
        Seed of the EM fit (:func:`~penguin_utils.models.em_initial_point`).

    Returns
    -------
    nutpie.CompiledModel
        A copy: nutpie's ``with_data`` with the new measurements and, as
        :func:`~penguin_utils.sampling.compile_mixture` does for the first data set, every
        chain starting exactly at the EM solution, without jitter. ``compiled`` is unchanged.
    """
    if DATA_NAME not in model.named_vars:
        raise ValueError(
            f"model has no pm.Data named {DATA_NAME!r}; build it with "
            "build_mixture_model(X), whose data nutpie can swap."
        )
    features = list(model.coords["feature"])
    values, _ = check_scaled(X, features)
    expected = tuple(model[DATA_NAME].get_value().shape)
    if values.shape != expected:
        raise ValueError(
            f"X has shape {values.shape}, but the model was built for {expected}: simulate data sets of "
            "the size the model was built with."
        )
    start = em_initial_point(values, len(model.coords["cluster"]), random_seed=random_seed, features=features)
    flat = unconstrained_vector(compiled, model, start)
    # nutpie calls initial_point_func(seed) for every chain's start, in its unconstrained space.
    return dataclasses.replace(compiled.with_data(**{DATA_NAME: values}), initial_point_func=lambda seed: flat.copy())
