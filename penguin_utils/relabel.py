"""Give clusters the same labels in every chain (label switching).

A mixture's likelihood does not change when the clusters are renumbered, so two chains
may describe the same clusters under permuted labels.  Each chain is matched to a
reference by its posterior-mean component means, solving the assignment problem with
:func:`scipy.optimize.linear_sum_assignment`.
"""

from __future__ import annotations

import re

import arviz as az
import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from penguin_utils.posterior import mixture_draws

__all__ = ["align_chains", "chain_permutations"]

_PACKED = re.compile(r"^chol_packed_(\d+)$")


def chain_permutations(idata, reference: np.ndarray | None = None) -> np.ndarray:
    """For each chain, the old label that each reference cluster corresponds to.

    Parameters
    ----------
    idata : arviz.InferenceData
        Posterior with ``w``, ``mu`` and ``chol``.
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


def align_chains(idata, reference: np.ndarray | None = None) -> az.InferenceData:
    """Return a copy of ``idata`` whose posterior uses consistent cluster labels in every chain.

    Every variable with a ``cluster`` dim (``w``, ``mu``, ``chol``), the per-cluster
    ``chol_packed_k`` variables and the labels ``z`` (if present) are permuted together.
    Other groups are copied unchanged. The permutation applied is stored in the
    posterior attribute ``"cluster_permutation"`` (chain-major, flattened).

    Parameters
    ----------
    idata : arviz.InferenceData
    reference : ndarray, shape (cluster, feature), optional
        See :func:`chain_permutations`.
    """
    perm = chain_permutations(idata, reference)
    n_chain, n_cluster = perm.shape
    source = idata.posterior
    packed = {int(m.group(1)): name for name in source.data_vars if (m := _PACKED.match(name))}
    if packed and sorted(packed) != list(range(n_cluster)):
        raise ValueError(f"Expected chol_packed_0..{n_cluster - 1}, found {sorted(packed.values())}.")
    inverse = np.argsort(perm, axis=1)  # chain c's old label -> reference label

    chains = []
    for c in range(n_chain):
        chain = source.isel(chain=[c])
        updates = {
            name: var.isel(cluster=perm[c]).assign_coords(cluster=var["cluster"])
            for name, var in chain.data_vars.items()
            if "cluster" in var.dims
        }
        # Values move between the packed variables; each keeps its own dims and coords.
        updates |= {packed[k]: chain[packed[k]].copy(data=chain[packed[perm[c, k]]].values) for k in packed}
        if "z" in chain:
            updates["z"] = chain["z"].copy(data=inverse[c][chain["z"].values])
        chains.append(chain.assign(updates))
    posterior = xr.concat(chains, dim="chain", combine_attrs="override")
    posterior.attrs["cluster_permutation"] = perm.ravel().tolist()
    aligned = idata.copy()
    aligned.posterior = posterior
    return aligned
