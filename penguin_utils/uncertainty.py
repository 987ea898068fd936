"""How sure is the clustering? Per-draw labels, misassignment counts and co-clustering.

Everything here works on per-draw cluster probabilities ``p[c, s, i, k]``
(:func:`penguin_utils.assign.draw_probabilities`): for chain ``c`` and draw ``s``, the
probability that penguin ``i`` belongs to cluster ``k`` given that draw's parameters
(``w_k N(x_i | mu_k, Sigma_k)`` normalised per penguin).  Given the
parameters, the labels of different penguins are independent, so:

* a posterior draw of all labels is one categorical draw per penguin from ``p[c, s, i]``
  (:func:`sample_labels`);
* the posterior probability that penguins ``i`` and ``j`` share a cluster is
  ``mean over draws of sum_k p[c, s, i, k] p[c, s, j, k]`` (:func:`co_clustering`): exact
  given the draws, and unchanged by any renumbering of the clusters in any draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "co_clustering",
    "misassigned_per_draw",
    "one_hot",
    "sample_labels",
]

_PROB_DIMS = ("chain", "draw", "penguin", "cluster")


def _check_probabilities(probabilities: xr.DataArray, name: str = "probabilities") -> np.ndarray:
    if not isinstance(probabilities, xr.DataArray):
        raise TypeError(
            f"{name} must be an xarray.DataArray with dims {_PROB_DIMS}, got {type(probabilities).__name__}; "
            "make it with penguin_utils.assign.draw_probabilities(idata, X)."
        )
    if set(probabilities.dims) != set(_PROB_DIMS):
        raise ValueError(f"{name} must have dims {_PROB_DIMS}, got {probabilities.dims}.")
    values = probabilities.transpose(*_PROB_DIMS).values
    if not np.all(np.isfinite(values)) or values.min() < 0:
        raise ValueError(f"{name} must hold finite, non-negative probabilities.")
    if not np.allclose(values.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError(
            f"{name} must sum to 1 over 'cluster' for every chain, draw and penguin "
            "(normalise per penguin, not over the whole matrix)."
        )
    return values


def co_clustering(probabilities: xr.DataArray) -> pd.DataFrame:
    """Posterior probability that two penguins belong to the same cluster.

    ``P(z_i = z_j | data) = mean over draws of sum_k p_ik p_jk`` for ``i != j``, and 1 on
    the diagonal.  Renumbering the clusters of any draw permutes ``k`` in both factors
    alike, so the result needs no relabelling.  Computed as one matrix product.

    Parameters
    ----------
    probabilities : xarray.DataArray
        Dims (chain, draw, penguin, cluster), summing to 1 over ``cluster``: from
        :func:`penguin_utils.assign.draw_probabilities`, or :func:`one_hot` of sampled labels (then the result
        is the frequency with which the two penguins were drawn into the same cluster).

    Returns
    -------
    pandas.DataFrame
        Shape (n_penguins, n_penguins), symmetric, indexed by penguin on both axes.
    """
    values = _check_probabilities(probabilities)
    n_chain, n_draw, n_penguin, n_cluster = values.shape
    # (penguin, draw * cluster) @ its transpose sums p_ik p_jk over clusters and draws at once.
    flat = np.ascontiguousarray(np.moveaxis(values, 2, 0).reshape(n_penguin, -1))
    same = flat @ flat.T
    same /= n_chain * n_draw
    np.fill_diagonal(same, 1.0)  # a penguin always shares its own cluster
    penguins = pd.Index(probabilities["penguin"].values, name="penguin")
    return pd.DataFrame(same, index=penguins, columns=penguins.rename("penguin_"))


def sample_labels(probabilities: xr.DataArray, *, random_seed: int = 0) -> xr.DataArray:
    """Draw every penguin's label once per posterior draw.

    For each chain, draw and penguin, the label is a categorical draw from that draw's
    probabilities: together, a draw from the joint posterior of the labels ``z``.

    Returns
    -------
    xarray.DataArray of int
        Dims (chain, draw, penguin), values in the ``cluster`` coordinate.
    """
    values = _check_probabilities(probabilities)
    rng = np.random.default_rng(random_seed)
    cumulative = np.cumsum(values, axis=-1)
    u = rng.uniform(size=values.shape[:-1] + (1,)) * cumulative[..., -1:]
    index = (u >= cumulative).sum(axis=-1)  # inverse CDF: first k with u < F_k
    index = np.minimum(index, values.shape[-1] - 1)
    clusters = probabilities["cluster"].values
    p = probabilities.transpose(*_PROB_DIMS)
    return xr.DataArray(
        clusters[index],
        dims=("chain", "draw", "penguin"),
        coords={d: p[d] for d in ("chain", "draw", "penguin")},
        name="label",
    )


def one_hot(labels: xr.DataArray, clusters: Sequence) -> xr.DataArray:
    """Labels (chain, draw, penguin) as 0/1 probabilities (chain, draw, penguin, cluster)."""
    clusters = np.asarray(clusters)
    values = labels.transpose("chain", "draw", "penguin").values
    unknown = np.setdiff1d(np.unique(values), clusters)
    if unknown.size:
        raise ValueError(
            f"labels hold value(s) {unknown.tolist()} that are not among the clusters {clusters.tolist()}."
        )
    hot = (values[..., None] == clusters).astype(float)
    return xr.DataArray(
        hot,
        dims=_PROB_DIMS,
        coords={**{d: labels[d] for d in ("chain", "draw", "penguin")}, "cluster": clusters},
        name="probability",
    )


def misassigned_per_draw(labels: xr.DataArray, species: pd.Series, mapping: dict) -> xr.DataArray:
    """Number of penguins whose cluster stands for another species, in every draw.

    Parameters
    ----------
    labels : xarray.DataArray
        Dims (chain, draw, penguin): from :func:`sample_labels`, or the most probable
        cluster of each draw (``assign.draw_probabilities(...).argmax("cluster")``).
    species : pandas.Series
        True species, indexed by the same penguins as ``labels``.
    mapping : dict
        ``{cluster: species}``, e.g. ``species_agreement(...)["mapping"]``.  One map for
        all draws: the chains are aligned, so a label means the same cluster everywhere.

    Returns
    -------
    xarray.DataArray of int
        Dims (chain, draw).
    """
    if not isinstance(species, pd.Series):
        raise TypeError("species must be a pandas Series indexed by penguin.")
    penguins = labels["penguin"].values
    if len(species) != len(penguins) or not np.array_equal(species.index.to_numpy(), penguins):
        raise ValueError(
            "species and labels are indexed by different penguins; pass species.loc[labels['penguin'].values]."
        )
    values = labels.transpose("chain", "draw", "penguin").values
    if not np.issubdtype(values.dtype, np.integer) or values.min() < 0:
        raise ValueError("labels must be non-negative integer cluster labels, as sample_labels returns.")
    clusters = np.unique(values)
    missing = [c for c in clusters.tolist() if c not in mapping]
    if missing:
        raise ValueError(f"mapping has no species for cluster(s) {missing}; it must cover every label.")
    # Each cluster's species as an integer code, looked up for all draws at once.
    names = pd.Index(pd.unique(pd.Series([str(s) for s in mapping.values()] + species.astype(str).tolist())))
    lookup = np.full(int(clusters.max()) + 1, -1)
    for cluster, name in mapping.items():
        if 0 <= cluster < len(lookup):
            lookup[cluster] = names.get_loc(str(name))
    truth = names.get_indexer(species.astype(str))
    wrong = (lookup[values] != truth).sum(axis=-1)
    return xr.DataArray(
        wrong,
        dims=("chain", "draw"),
        coords={"chain": labels["chain"], "draw": labels["draw"]},
        name="misassigned",
    )
