"""From posterior draws of the mixture back to clusters for each penguin.

For every chain and draw, each penguin's cluster probabilities follow from Bayes' rule,
``p(k | x_i) ∝ w_k N(x_i | mu_k, Sigma_k)``, normalised per penguin with logsumexp.
Averaging them over all draws carries the posterior uncertainty of the parameters into
the assignment.  ``X`` may be the training data or new penguins scaled with the
training scaler: nothing is re-sampled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from penguin_utils._validation import check_scaled
from penguin_utils.data import FEATURES
from penguin_utils.posterior import mixture_draws

__all__ = ["assign_clusters", "cluster_probabilities", "component_logp", "label_frequencies"]

_LOG_2PI = np.log(2 * np.pi)


def component_logp(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """``log w_k + log N(x_i | mu_k, Sigma_k)`` for every draw, penguin and cluster.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior with ``w``, ``mu`` and ``chol`` (see :mod:`penguin_utils.models`).
    X : DataFrame or ndarray, shape (n_penguins, n_features)
        Scaled measurements: the training data or new penguins.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, penguin, cluster).
    """
    values, index = check_scaled(X, features)
    draws = mixture_draws(idata, features)
    n_chain, n_draw, n_cluster, n_feature = draws.mu.shape
    # Whitening with L^{-1} turns every Mahalanobis distance into a sum of squares; one
    # matrix product covers all chains, draws and clusters at once.
    chol_inv = np.linalg.inv(draws.chol)
    white_x = (chol_inv.reshape(-1, n_feature) @ values.T).reshape(n_chain, n_draw, n_cluster, n_feature, -1)
    white_x -= np.einsum("cskij,cskj->cski", chol_inv, draws.mu)[..., None]
    mahalanobis = np.square(white_x, out=white_x).sum(axis=3)
    log_det = np.log(np.diagonal(draws.chol, axis1=-2, axis2=-1)).sum(axis=-1)
    logp = (np.log(draws.w) - log_det - 0.5 * n_feature * _LOG_2PI)[..., None] - 0.5 * mahalanobis
    return xr.DataArray(
        np.moveaxis(logp, 2, 3),
        dims=("chain", "draw", "penguin", "cluster"),
        coords={
            "chain": draws.coords["chain"],
            "draw": draws.coords["draw"],
            "penguin": np.asarray(index),
            "cluster": draws.coords["cluster"],
        },
        name="component_logp",
    )


def cluster_probabilities(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> pd.DataFrame:
    """Posterior probability of each cluster for each penguin.

    Per draw, the component log-densities are normalised per penguin with logsumexp;
    the resulting probabilities are then averaged over all chains and draws.

    Returns
    -------
    pandas.DataFrame
        Shape (n_penguins, n_clusters): rows indexed by penguin, one column per
        cluster label; each row sums to 1.
    """
    logp = component_logp(idata, X, features=features)
    # Per draw and penguin: exp(logp - logsumexp(logp)) over the clusters, written out
    # because scipy's logsumexp is several times slower on millions of short rows.
    per_draw = logp.values - logp.values.max(axis=-1, keepdims=True)
    np.exp(per_draw, out=per_draw)
    per_draw /= per_draw.sum(axis=-1, keepdims=True)
    probs = per_draw.mean(axis=(0, 1))
    return pd.DataFrame(
        probs,
        index=pd.Index(logp.coords["penguin"].values, name="penguin"),
        columns=pd.Index(logp.coords["cluster"].values, name="cluster"),
    )


def _summarise(probs: pd.DataFrame) -> pd.DataFrame:
    """Add the most probable cluster, its probability and the entropy (nats)."""
    p = probs.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = 0.0 - np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)  # 0.0 - x: no -0.0
    out = probs.copy()
    out["cluster"] = probs.columns.to_numpy()[p.argmax(axis=1)]
    out["probability"] = p.max(axis=1)
    out["entropy"] = entropy
    return out


def assign_clusters(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> pd.DataFrame:
    """Assign each penguin to its most probable cluster, saying how sure that is.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`cluster_probabilities` plus ``cluster`` (the most probable
        label), ``probability`` (its probability) and ``entropy`` (of the cluster
        probabilities, in nats: 0 when certain, ``log(n_clusters)`` when undecided).
    """
    return _summarise(cluster_probabilities(idata, X, features=features))


def label_frequencies(idata) -> pd.DataFrame:
    """Assignment under the explicit-categorical model: how often each ``z_i`` took each label.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior of :func:`~penguin_utils.models.build_categorical_model` with ``z``
        (chain, draw, penguin) and ``w`` (for the cluster labels).

    Returns
    -------
    pandas.DataFrame
        Same layout as :func:`assign_clusters`: the frequency of each label over all
        chains and draws, then ``cluster``, ``probability`` and ``entropy``.
    """
    posterior = getattr(idata, "posterior", None)
    if posterior is None or "z" not in posterior or "w" not in posterior:
        raise ValueError(
            "label_frequencies needs a posterior with the labels z and the weights w, "
            "as sampled from penguin_utils.models.build_categorical_model."
        )
    clusters = posterior["cluster"].values
    z = posterior["z"].transpose("chain", "draw", "penguin").values
    if z.min() < 0 or z.max() >= len(clusters):
        raise ValueError(f"z holds labels outside 0..{len(clusters) - 1}, the clusters of w.")
    counts = (z[..., None] == np.arange(len(clusters))).mean(axis=(0, 1))
    probs = pd.DataFrame(
        counts,
        index=pd.Index(posterior["penguin"].values, name="penguin"),
        columns=pd.Index(clusters, name="cluster"),
    )
    return _summarise(probs)
