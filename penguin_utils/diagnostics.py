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

from penguin_utils.assign import draw_probabilities, mixture_log_likelihood
from penguin_utils.data import FEATURES

__all__ = ["chain_cluster_sizes", "chain_summary"]


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

    The log-likelihood of all penguins, ``sum_i log sum_k w_k N(x_i | mu_k, Sigma_k)``
    (:func:`~penguin_utils.assign.mixture_log_likelihood` summed over penguins), is the
    same for any labelling of the clusters, so chains can be compared before they are
    aligned.  Sorting the sizes makes the rows comparable without relabelling: chains in the same
    mode have nearly equal rows.

    Returns
    -------
    pandas.DataFrame
        Index ``chain``; columns ``loglik`` (mean over the chain's draws) and
        ``size_1`` ... ``size_K`` (expected cluster sizes, largest first).
    """
    loglik = mixture_log_likelihood(idata, X, features=features).sum("penguin").mean("draw")
    sizes = chain_cluster_sizes(idata, X, features=features)
    largest_first = -np.sort(-sizes.to_numpy(), axis=1)
    table = pd.DataFrame(
        largest_first,
        index=sizes.index,
        columns=[f"size_{k + 1}" for k in range(largest_first.shape[1])],
    )
    table.insert(0, "loglik", loglik.values)
    return table
