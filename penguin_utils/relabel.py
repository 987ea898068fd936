"""Give clusters the same labels in every chain (label switching).

A mixture's likelihood does not change when the clusters are renumbered, so two chains
may describe the same clusters under permuted labels.  Each chain is matched to a
reference by its posterior-mean component means, solving the assignment problem with
:func:`scipy.optimize.linear_sum_assignment`.
"""

from __future__ import annotations

import re

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from penguin_utils.posterior import as_posterior, mixture_draws

__all__ = ["align_chains", "chain_permutations"]

_PACKED = re.compile(r"^chol_packed_(\d+)$")
# nutpie also stores each draw in the sampler's unconstrained space, e.g. chol_packed_0_cholesky-cov-packed__
_PACKED_UNCONSTRAINED = re.compile(r"^chol_packed_(\d+)_[A-Za-z0-9-]+__$")


def chain_permutations(idata, reference: np.ndarray | None = None) -> np.ndarray:
    """For each chain, the old label that each reference cluster corresponds to.

    Parameters
    ----------
    idata : arviz.InferenceData or xarray.Dataset
        A fit with ``w``, ``mu`` and ``chol`` in its posterior, or that posterior.
    reference : ndarray, shape (cluster, feature), optional
        Component means to match; the posterior mean of ``mu`` in the first chain by default.

    Returns
    -------
    ndarray of int, shape (chain, cluster)
        ``perm[c, k]`` is chain ``c``'s label for the cluster labelled ``k`` in the reference,
        chosen to minimise the summed squared distance between means.
    """
    draws = mixture_draws(idata)
    chain_means = draws.mu.mean(axis=1)  # (chain, cluster, feature)
    reference = chain_means[0] if reference is None else np.asarray(reference, dtype=float)
    if reference.shape != chain_means.shape[1:]:
        raise ValueError(
            f"reference must have shape (cluster, feature) = {chain_means.shape[1:]}, got {reference.shape}; "
            "its cluster count must match the posterior's."
        )
    cost = np.square(reference[None, :, None, :] - chain_means[:, None, :, :]).sum(axis=-1)
    return np.stack([linear_sum_assignment(c)[1] for c in cost])


def align_chains(idata, reference: np.ndarray | None = None):
    """Return a copy of ``idata`` whose posterior uses consistent cluster labels in every chain.

    Every posterior variable stays consistent with the relabelled clusters:

    * variables with a ``cluster`` dim (``w``, ``mu``, ``chol``, and any other) are permuted;
    * the per-cluster ``chol_packed_k`` variables and their unconstrained copies that
      nutpie stores (``chol_packed_k_cholesky-cov-packed__``) swap values between clusters;
    * the labels ``z`` (if present) are renamed;
    * unconstrained copies that mix the clusters and cannot be permuted (``w_simplex__``,
      the simplex transform of ``w``; any other ``*__`` variable) are **dropped**, and
      their names listed in the posterior attribute ``"dropped_unconstrained"``.

    Other groups (``sample_stats``, warmup draws, ...) are copied unchanged. The
    permutation applied is stored in the posterior attribute ``"cluster_permutation"``
    (chain-major, flattened).

    Parameters
    ----------
    idata : arviz.InferenceData or xarray.Dataset
        A fit, or its posterior group; the result is of the same kind.
    reference : ndarray, shape (cluster, feature), optional
        See :func:`chain_permutations`.
    """
    perm = chain_permutations(idata, reference)
    n_chain, n_cluster = perm.shape
    source = as_posterior(idata)
    packed = _per_cluster(source, _PACKED, n_cluster)
    packed_unconstrained = _per_cluster(source, _PACKED_UNCONSTRAINED, n_cluster)
    per_cluster = {**packed, **packed_unconstrained}
    dropped = sorted(
        name
        for name in source.data_vars
        if name.endswith("__") and name not in per_cluster.values() and "cluster" not in source[name].dims
    )
    source = source.drop_vars(dropped)
    inverse = np.argsort(perm, axis=1)  # chain c's old label -> reference label

    chains = []
    for c in range(n_chain):
        chain = source.isel(chain=[c])
        updates = {
            name: var.isel(cluster=perm[c]).assign_coords(cluster=var["cluster"])
            for name, var in chain.data_vars.items()
            if "cluster" in var.dims
        }
        # Values move between the per-cluster variables; each keeps its own dims and coords.
        for group in (packed, packed_unconstrained):
            updates |= {group[k]: chain[group[k]].copy(data=chain[group[perm[c, k]]].values) for k in group}
        if "z" in chain:
            updates["z"] = chain["z"].copy(data=inverse[c][chain["z"].values])
        chains.append(chain.assign(updates))
    posterior = xr.concat(chains, dim="chain", combine_attrs="override")
    posterior.attrs["cluster_permutation"] = perm.ravel().tolist()
    if dropped:
        posterior.attrs["dropped_unconstrained"] = dropped
    if isinstance(idata, xr.Dataset):
        return posterior
    aligned = idata.copy()
    aligned.posterior = posterior
    return aligned


def _per_cluster(posterior: xr.Dataset, pattern: re.Pattern, n_cluster: int) -> dict[int, str]:
    """``{k: name}`` for the posterior variables matching ``pattern`` (its group 1 is k)."""
    found = {int(m.group(1)): name for name in posterior.data_vars if (m := pattern.match(name))}
    if found and sorted(found) != list(range(n_cluster)):
        raise ValueError(
            f"Expected one variable per cluster 0..{n_cluster - 1} matching {pattern.pattern}, "
            f"found {sorted(found.values())}."
        )
    return found
