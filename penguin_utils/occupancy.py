"""How many clusters does a fit use? Occupancy and label-free diagnostics.

An overfitted mixture (more components than clusters, a sparse Dirichlet prior on the
weights) lets the data empty the components they do not need. The number of clusters is
then the number of *occupied* components: those that hold at least one penguin in a
posterior draw of the labels (:func:`penguin_utils.uncertainty.sample_labels`). Its
labels switch freely between and within chains, so everything here is unchanged by any
renumbering of the clusters in any draw: sizes sorted, counts of occupied components,
co-clustering probabilities.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from penguin_utils._validation import check_positive_int
from penguin_utils.uncertainty import co_clustering

__all__ = [
    "chain_co_clustering_gap",
    "cluster_sizes",
    "label_free_diagnostics",
    "occupied_clusters",
    "partners_match_species",
]

_LABEL_DIMS = ("chain", "draw", "penguin")


def cluster_sizes(labels: xr.DataArray, clusters: Sequence) -> xr.DataArray:
    """Number of penguins in every cluster, in every draw.

    Parameters
    ----------
    labels : xarray.DataArray of int
        Dims (chain, draw, penguin), values in ``clusters``: from
        :func:`penguin_utils.uncertainty.sample_labels`.
    clusters : sequence
        Every cluster of the model (``probabilities["cluster"].values``), empty ones included.

    Returns
    -------
    xarray.DataArray of int
        Dims (chain, draw, cluster); sums to the number of penguins over ``cluster``.
    """
    if not isinstance(labels, xr.DataArray) or set(labels.dims) != set(_LABEL_DIMS):
        raise TypeError(
            f"labels must be an xarray.DataArray with dims {_LABEL_DIMS}; "
            "make it with penguin_utils.uncertainty.sample_labels(draw_probabilities(idata, X))."
        )
    clusters = np.asarray(clusters)
    values = labels.transpose(*_LABEL_DIMS).values
    index = pd.Index(clusters).get_indexer(values.ravel())
    if (index < 0).any():
        unknown = np.setdiff1d(np.unique(values), clusters)
        raise ValueError(
            f"labels hold value(s) {unknown.tolist()} that are not among the clusters {clusters.tolist()}."
        )
    n_chain, n_draw, n_penguin = values.shape
    n_cluster = len(clusters)
    # One bincount for all draws: draw s's cluster k goes to bin s * K + k.
    draw_of = np.repeat(np.arange(n_chain * n_draw), n_penguin)
    counts = np.bincount(draw_of * n_cluster + index, minlength=n_chain * n_draw * n_cluster)
    return xr.DataArray(
        counts.reshape(n_chain, n_draw, n_cluster),
        dims=("chain", "draw", "cluster"),
        coords={"chain": labels["chain"].values, "draw": labels["draw"].values, "cluster": clusters},
        name="size",
    )


def occupied_clusters(labels: xr.DataArray, clusters: Sequence, *, min_size: int = 1) -> xr.DataArray:
    """Number of clusters holding at least ``min_size`` penguins, in every draw.

    With ``min_size=1`` this is the number of non-empty clusters, the sparse mixture's
    estimate of the number of groups; a larger ``min_size`` leaves out clusters that
    hold only a stray penguin or two.

    Parameters
    ----------
    labels, clusters
        As in :func:`cluster_sizes`.
    min_size : int, default 1

    Returns
    -------
    xarray.DataArray of int
        Dims (chain, draw).
    """
    min_size = check_positive_int(min_size, "min_size")
    occupied = (cluster_sizes(labels, clusters) >= min_size).sum("cluster")
    return occupied.rename(f"clusters_with_at_least_{min_size}")


def label_free_diagnostics(quantities: Mapping[str, xr.DataArray]) -> pd.DataFrame:
    """R-hat and effective sample sizes of scalar summaries that ignore the labels.

    Parameters
    ----------
    quantities : mapping of str to xarray.DataArray
        Each of dims (chain, draw), e.g. :func:`occupied_clusters` and the total
        log-likelihood per draw (``assign.mixture_log_likelihood(idata, X).sum("penguin")``).

    Returns
    -------
    pandas.DataFrame
        Indexed by the names: ``mean``, ``r_hat`` (rank-normalised, split), ``ess_bulk``
        and ``ess_tail``. A quantity that never changes has NaN R-hat and ESS.
    """
    rows = {}
    for name, values in quantities.items():
        if not isinstance(values, xr.DataArray) or set(values.dims) != {"chain", "draw"}:
            raise ValueError(f"quantities[{name!r}] must be an xarray.DataArray with dims ('chain', 'draw').")
        array = values.transpose("chain", "draw").values.astype(float)
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # constant quantities give NaN
            rows[name] = {
                "mean": array.mean(),
                "r_hat": float(az.rhat(array)),
                "ess_bulk": float(az.ess(array, method="bulk")),
                "ess_tail": float(az.ess(array, method="tail")),
            }
    return pd.DataFrame.from_dict(rows, orient="index")


def chain_co_clustering_gap(probabilities: xr.DataArray) -> pd.DataFrame:
    """Largest difference between the co-clustering matrices of every pair of chains.

    Each chain's :func:`~penguin_utils.uncertainty.co_clustering` is computed from its
    own draws; chains that explore the same posterior give nearly the same matrix, whatever
    their labels.

    Parameters
    ----------
    probabilities : xarray.DataArray
        Dims (chain, draw, penguin, cluster): :func:`penguin_utils.assign.draw_probabilities`.

    Returns
    -------
    pandas.DataFrame
        Shape (chain, chain), symmetric with zeros on the diagonal: the largest absolute
        difference over all pairs of penguins.
    """
    if not isinstance(probabilities, xr.DataArray) or "chain" not in probabilities.dims:
        raise TypeError("probabilities must be an xarray.DataArray with a 'chain' dim, from draw_probabilities.")
    chains = probabilities["chain"].values
    matrices = [co_clustering(probabilities.isel(chain=[c])).to_numpy() for c in range(len(chains))]
    gap = np.zeros((len(chains), len(chains)))
    for a in range(len(chains)):
        for b in range(a + 1, len(chains)):
            gap[a, b] = gap[b, a] = np.abs(matrices[a] - matrices[b]).max()
    names = pd.Index(chains, name="chain")
    return pd.DataFrame(gap, index=names, columns=names)


def partners_match_species(together: pd.DataFrame, species: pd.Series, *, threshold: float = 0.5) -> pd.Series:
    """Whether each penguin's probable partners are exactly the other penguins of its species.

    A penguin's partners are the other penguins it shares a cluster with in more than
    ``threshold`` of the posterior.

    Parameters
    ----------
    together : pandas.DataFrame, shape (n_penguins, n_penguins)
        :func:`~penguin_utils.uncertainty.co_clustering`.
    species : pandas.Series, shape (n_penguins,)
        Indexed by the same penguins, in the same order.
    threshold : float, default 0.5
        Strictly between 0 and 1.

    Returns
    -------
    pandas.Series of bool
        Indexed by penguin.
    """
    if not isinstance(together, pd.DataFrame) or together.shape[0] != together.shape[1]:
        raise TypeError("together must be the square co-clustering DataFrame from uncertainty.co_clustering.")
    if not isinstance(species, pd.Series) or not np.array_equal(species.index.to_numpy(), together.index.to_numpy()):
        raise ValueError("species must be a Series indexed by the penguins of together, in its order.")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be strictly between 0 and 1, got {threshold!r}.")
    partners = together.to_numpy() > threshold
    np.fill_diagonal(partners, True)  # a penguin's own entry is 1 on both sides
    codes = species.astype(str).to_numpy()
    same = codes[:, None] == codes[None, :]
    return pd.Series((partners == same).all(axis=1), index=together.index, name="partners_match_species")
