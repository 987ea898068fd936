"""From posterior draws of the mixture back to clusters for each penguin.

For every chain and draw, each penguin's cluster probabilities follow from Bayes' rule,
``p(k | x_i) ∝ w_k N(x_i | mu_k, Sigma_k)``, normalised per penguin.  Averaging them over
all draws carries the posterior uncertainty of the parameters into the assignment.  ``X``
may be the training data or new penguins scaled with the scaler saved with the fit
(never a scaler refitted on the new penguins): nothing is re-sampled.

The log-density is the one the sampler uses (:mod:`penguin_utils._kernels`), run over all
chains and draws in compiled loops.  ``X``'s index, whatever its kind (a MultiIndex
included), labels the penguins in every result.  A NumPy array carries no column names,
so its column order (that of ``features``) is the caller's responsibility; pass a
DataFrame from ``scaler.transform`` to have the columns checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from penguin_utils import _kernels
from penguin_utils._validation import check_scaled
from penguin_utils.data import FEATURES
from penguin_utils.posterior import MixtureDraws, as_posterior, mixture_draws

if TYPE_CHECKING:  # imported where used: assigning from a fit file needs no xarray (the command line)
    import xarray as xr

__all__ = [
    "assign_clusters",
    "cluster_probabilities",
    "component_logp",
    "draw_probabilities",
    "label_frequencies",
    "mixture_log_likelihood",
]

_OTHER_DIMS = ("chain", "draw", "cluster")


def _over_draws(idata, X, features: Sequence[str], what: int) -> tuple[np.ndarray, pd.Index, MixtureDraws]:
    """Check the inputs once and run the kernel over all draws: its output, X's index and the draws."""
    draws = mixture_draws(idata, features)
    values, index = check_scaled(X, features)
    if not isinstance(index, pd.MultiIndex) and index.name is None:
        index = index.rename("penguin")
    n_chain, n_draw, n_cluster, n_feature = draws.mu.shape
    n_sample = n_chain * n_draw
    out = _kernels.over_draws(
        np.ascontiguousarray(values, dtype=float),
        np.ascontiguousarray(draws.w.reshape(n_sample, n_cluster), dtype=float),
        np.ascontiguousarray(draws.mu.reshape(n_sample, n_cluster, n_feature), dtype=float),
        np.ascontiguousarray(draws.chol.reshape(n_sample, n_cluster, n_feature, n_feature), dtype=float),
        what,
    )
    return out, index, draws


def _penguin_coords(index: pd.Index) -> xr.Coordinates:
    """``index`` as the ``penguin`` coordinate, kept as it is (MultiIndex levels included)."""
    import xarray as xr

    if isinstance(index, pd.MultiIndex):
        names = list(index.names)
        clash = [n for n in names if n in (*_OTHER_DIMS, "penguin")]
        if clash:
            raise ValueError(
                f"X's index has level(s) named {clash}, which clash with the result's dims "
                f"{('chain', 'draw', 'penguin', 'cluster')}; rename those index levels."
            )
        return xr.Coordinates.from_pandas_multiindex(index, "penguin")
    return xr.Coordinates({"penguin": ("penguin", index)})


def _per_draw_array(
    values: np.ndarray, index: pd.Index, draws: MixtureDraws, name: str, *, per_cluster: bool = True
) -> xr.DataArray:
    """Kernel output (S, N, K) as (chain, draw, penguin, cluster), or (S, N, 1) as (chain, draw, penguin)."""
    import xarray as xr

    n_chain, n_draw = draws.w.shape[:2]
    coords = _penguin_coords(index).assign(chain=draws.coords["chain"], draw=draws.coords["draw"])
    dims = ("chain", "draw", "penguin", "cluster")
    if per_cluster:
        coords = coords.assign(cluster=draws.coords["cluster"])
    else:
        values, dims = values[..., 0], dims[:-1]
    return xr.DataArray(values.reshape(n_chain, n_draw, *values.shape[1:]), dims=dims, coords=coords, name=name)


def component_logp(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """``log w_k + log N(x_i | mu_k, Sigma_k)`` for every draw, penguin and cluster.

    Parameters
    ----------
    idata : arviz.InferenceData or xarray.Dataset
        Posterior with ``w``, ``mu`` and ``chol`` (see :mod:`penguin_utils.models`), or
        that posterior group itself.
    X : DataFrame or ndarray, shape (n_penguins, n_features)
        Scaled measurements: the training data or new penguins. An array's columns must
        be in the order of ``features``; nothing can check that.
    features : sequence of str
        The feature names the posterior was fitted on.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, penguin, cluster); the ``penguin`` coordinate is ``X``'s index.
    """
    logp, index, draws = _over_draws(idata, X, features, _kernels.COMPONENT_LOGP)
    return _per_draw_array(logp, index, draws, "component_logp")


def draw_probabilities(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """Each penguin's cluster probabilities under every posterior draw.

    Per draw ``p(k | x_i) = w_k N(x_i | mu_k, Sigma_k) / sum_j w_j N(x_i | mu_j, Sigma_j)``:
    the weights are included and every (chain, draw, penguin) sums to 1 over clusters.
    Parameters as in :func:`component_logp`.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, penguin, cluster); the ``penguin`` coordinate is ``X``'s index.
        Its mean over ``("chain", "draw")`` is :func:`cluster_probabilities`.
    """
    probs, index, draws = _over_draws(idata, X, features, _kernels.PROBABILITIES)
    return _per_draw_array(probs, index, draws, "probability")


def mixture_log_likelihood(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """Each penguin's log mixture density ``log sum_k w_k N(x_i | mu_k, Sigma_k)``, per draw.

    The likelihood the mixture was fitted with, and the same for any labelling of the
    clusters: what ``az.loo`` needs (:func:`penguin_utils.compare.add_log_likelihood`), and,
    summed over penguins, what tells a chain stuck in another mode
    (:func:`penguin_utils.diagnostics.chain_summary`). Parameters as in :func:`component_logp`.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, penguin); the ``penguin`` coordinate is ``X``'s index.
    """
    loglik, index, draws = _over_draws(idata, X, features, _kernels.LOG_LIKELIHOOD)
    return _per_draw_array(loglik, index, draws, "log_likelihood", per_cluster=False)


def cluster_probabilities(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> pd.DataFrame:
    """Posterior probability of each cluster for each penguin.

    The mean over all chains and draws of :func:`draw_probabilities`, computed without
    storing the per-draw values. Parameters as in :func:`component_logp`.

    Returns
    -------
    pandas.DataFrame
        Shape (n_penguins, n_clusters): indexed by ``X``'s index (named ``"penguin"``
        if it had no name), one column per cluster label; each row sums to 1.
    """
    probs, index, draws = _over_draws(idata, X, features, _kernels.MEAN_PROBABILITIES)
    return pd.DataFrame(probs[0], index=index, columns=pd.Index(draws.coords["cluster"], name="cluster"))


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

    Parameters as in :func:`component_logp`: the fit first (an ``InferenceData`` or its
    posterior ``Dataset``), then the scaled penguins, e.g.
    ``assign_clusters(idata, scaler.transform(new_penguins))`` with the scaler saved with
    the fit.

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
    idata : arviz.InferenceData or xarray.Dataset
        Posterior of :func:`~penguin_utils.models.build_categorical_model` with ``z``
        (chain, draw, penguin) and ``w`` (for the cluster labels).

    Returns
    -------
    pandas.DataFrame
        Same layout as :func:`assign_clusters`: the frequency of each label over all
        chains and draws, then ``cluster``, ``probability`` and ``entropy``.
    """
    posterior = as_posterior(idata)
    if "z" not in posterior or "w" not in posterior:
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
