"""Per-chain diagnostics for mixtures: spotting a chain stuck in another mode.

Relabelling (:mod:`penguin_utils.relabel`) repairs chains that found the same clusters
under permuted names.  It cannot repair a chain that found *different* clusters, for
example two components sharing one species while a third straddles the other two.  Such
a chain shows up as a lower log-likelihood than the others, and as different cluster
sizes.  Both are label-invariant, so they can be read before any relabelling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from penguin_utils.assign import component_logp, draw_probabilities
from penguin_utils.data import FEATURES

__all__ = ["chain_cluster_sizes", "chain_summary", "mixture_loglik"]


def _log_normaliser(logp: np.ndarray) -> np.ndarray:
    """``logsumexp`` over the last axis (clusters), kept as a trailing axis of length 1."""
    top = logp.max(axis=-1, keepdims=True)
    return top + np.log(np.exp(logp - top).sum(axis=-1, keepdims=True))


def mixture_loglik(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """Log-likelihood of all penguins under every posterior draw.

    ``sum_i log sum_k w_k N(x_i | mu_k, Sigma_k)``: the same for any labelling of the
    clusters, so chains can be compared before they are aligned.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior with ``w``, ``mu`` and ``chol`` (see :mod:`penguin_utils.models`).
    X : DataFrame or ndarray, shape (n_penguins, n_features)
        Scaled measurements the model was fitted to.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw).
    """
    logp = component_logp(idata, X, features=features)
    total = _log_normaliser(logp.values)[..., 0].sum(axis=-1)
    return xr.DataArray(
        total,
        dims=("chain", "draw"),
        coords={"chain": logp.coords["chain"].values, "draw": logp.coords["draw"].values},
        name="mixture_loglik",
    )


def chain_cluster_sizes(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> pd.DataFrame:
    """Expected number of penguins in each cluster, chain by chain.

    For every draw, each penguin's cluster probabilities
    (:func:`~penguin_utils.assign.draw_probabilities`) are summed over penguins; the sums
    are averaged over the draws of each chain.  Chains in the same mode show the same sizes
    up to a permutation of the columns; a chain in another mode shows other sizes.

    Returns
    -------
    pandas.DataFrame
        Shape (chain, cluster); each row sums to the number of penguins.
    """
    sizes = draw_probabilities(idata, X, features=features).sum("penguin").mean("draw")
    return sizes.transpose("chain", "cluster").to_pandas().rename_axis(index="chain", columns="cluster")


def chain_summary(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> pd.DataFrame:
    """One row per chain: its mean log-likelihood and its cluster sizes, sorted within the row.

    Sorting the sizes makes the rows comparable without relabelling: chains in the same
    mode have nearly equal rows.

    Returns
    -------
    pandas.DataFrame
        Index ``chain``; columns ``loglik`` (mean over the chain's draws) and
        ``size_1`` ... ``size_K`` (expected cluster sizes, largest first).
    """
    loglik = mixture_loglik(idata, X, features=features).mean("draw")
    sizes = chain_cluster_sizes(idata, X, features=features)
    largest_first = -np.sort(-sizes.to_numpy(), axis=1)
    table = pd.DataFrame(
        largest_first,
        index=sizes.index,
        columns=[f"size_{k + 1}" for k in range(largest_first.shape[1])],
    )
    table.insert(0, "loglik", loglik.values)
    return table
