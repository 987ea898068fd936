"""A mixture with a sex shift in every cluster (chapter 13).

Each penguin has a cluster ``z_i ~ Categorical(w)`` and a sex ``s_i`` (0 female, 1 male)
with ``s_i | z_i ~ Bernoulli(pi_z)``; its measurements are
``x_i | z_i, s_i ~ MvNormal(mu_z + s_i delta_z, Sigma_z)``. Summing the cluster out, as
the book's mixture does, gives one mixture per sex, and for a penguin of unknown sex one
mixture over both sexes of every cluster::

    female:  p(x, s=0) = sum_k w_k (1 - pi_k) N(x | mu_k, Sigma_k)
    male:    p(x, s=1) = sum_k w_k pi_k N(x | mu_k + delta_k, Sigma_k)
    unknown: p(x)      = p(x, s=0) + p(x, s=1)   (2K components)

All three are :func:`~penguin_utils.mixture_logp.mvnormal_mixture_logp` with unnormalised
weights, whose gradient ``r_ik / w_k`` holds for any positive weights. The posterior
functions below evaluate the same ``2K`` components over all draws with the compiled
kernel of :mod:`penguin_utils.assign`, in the order (sex, cluster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.special import logsumexp

from penguin_utils import _kernels
from penguin_utils._validation import check_positive_int, check_scaled
from penguin_utils.data import FEATURES
from penguin_utils.mixture_logp import mvnormal_mixture_logp
from penguin_utils.models import PriorSettings, _cluster_priors, _coords, em_initial_point
from penguin_utils.posterior import as_posterior, mixture_draws

__all__ = [
    "SEXES",
    "build_sex_mixture_model",
    "draw_probabilities",
    "joint_log_density",
    "log_likelihood",
    "male_probability",
    "posterior_predictive",
    "sex_codes",
    "sex_initial_point",
]

#: The values of ``penguins["sex"]``, in the order of their codes 0 and 1.
SEXES = ("female", "male")
#: Code of a penguin whose sex was not recorded.
UNKNOWN = -1


def sex_codes(sex, index: pd.Index | None = None) -> np.ndarray:
    """Sexes as codes: 0 female, 1 male, -1 unknown (NaN or None).

    Parameters
    ----------
    sex : pandas.Series or array-like, shape (n_penguins,)
        ``"female"``, ``"male"`` or missing, as in ``load_penguins()["sex"]``.
    index : pandas.Index, optional
        The penguins of ``X``; a Series ``sex`` must have exactly this index.

    Returns
    -------
    ndarray of int, shape (n_penguins,)
    """
    if isinstance(sex, pd.Series):
        if index is not None and not sex.index.equals(index):
            raise ValueError(
                "sex is indexed by other penguins than X; pass penguins['sex'] for the same rows as X "
                "(e.g. sex.loc[X.index])."
            )
        values = sex.to_numpy(dtype=object)
    else:
        values = np.asarray(sex, dtype=object)
    if values.ndim != 1:
        raise ValueError(f"sex must be one value per penguin (1-D), got shape {values.shape}.")
    if index is not None and len(values) != len(index):
        raise ValueError(f"sex has {len(values)} values but X has {len(index)} penguins.")
    missing = pd.isna(values)
    bad = sorted({str(v) for v in values[~missing] if v not in SEXES})
    if bad:
        raise ValueError(f"sex has value(s) {bad}; use {list(SEXES)}, and NaN or None for a penguin of unknown sex.")
    codes = np.full(len(values), UNKNOWN)
    codes[~missing] = (values[~missing] == "male").astype(int)
    return codes


def build_sex_mixture_model(
    X: pd.DataFrame | np.ndarray,
    sex,
    n_clusters: int = 3,
    *,
    priors: PriorSettings | Mapping[str, float] | None = None,
    delta_sigma: float = 1.0,
    features: Sequence[str] = FEATURES,
) -> pm.Model:
    """The mixture of :func:`~penguin_utils.models.build_mixture_model` with a sex shift per cluster.

    Parameters
    ----------
    X : DataFrame or ndarray, shape (n_penguins, n_features)
        Scaled measurements.
    sex : pandas.Series or array-like, shape (n_penguins,)
        ``"female"``, ``"male"`` or missing (see :func:`sex_codes`); the missing ones are
        summed over.
    n_clusters : int, default 3
    priors : PriorSettings or mapping, optional
        Priors of ``w``, ``mu`` and ``chol``, as in ``build_mixture_model``.
    delta_sigma : float, default 1.0
        Standard deviation of the Normal prior on every sex shift (scaled units: one
        standard deviation of the measurement over all penguins).
    features : sequence of str
        Names of the columns of ``X``.

    Returns
    -------
    pymc.Model
        Free ``w`` (cluster), ``mu`` (cluster, feature), ``chol_packed_{k}``, ``delta``
        (cluster, feature), the male mean minus the female mean, and ``pi`` (cluster), the
        share of males, Beta(1, 1); deterministic ``chol``; the likelihood as potentials
        ``x_female``, ``x_male`` and ``x_unknown`` (those with at least one penguin), the
        sums of ``log p(x_i, s_i)`` and, for unknown sex, of ``log p(x_i)``.
    """
    values, index = check_scaled(X, features)
    n_clusters = check_positive_int(n_clusters, "n_clusters", at_most=len(values), of="penguins in X")
    codes = sex_codes(sex, index)
    if not np.isfinite(delta_sigma) or delta_sigma <= 0:
        raise ValueError(f"delta_sigma must be a positive number, got {delta_sigma!r}.")
    priors = PriorSettings.coerce(priors)
    groups = {"female": codes == 0, "male": codes == 1, "unknown": codes == UNKNOWN}
    with pm.Model(coords=_coords(index, n_clusters, features)) as model:
        w, mu, _, chol = _cluster_priors(n_clusters, len(features), priors)
        delta = pm.Normal("delta", 0.0, delta_sigma, dims=("cluster", "feature"))
        pi = pm.Beta("pi", 1.0, 1.0, dims="cluster")
        weights = {"female": w * (1 - pi), "male": w * pi}
        means = {"female": mu, "male": mu + delta}
        covs = {"female": chol, "male": chol}
        # Unknown sex: both sexes of every cluster, 2K components in all.
        weights["unknown"] = pt.concatenate([weights["female"], weights["male"]])
        means["unknown"] = pt.concatenate([means["female"], means["male"]])
        covs["unknown"] = pt.concatenate([chol, chol])
        for name, rows in groups.items():
            if rows.any():
                # The measurements and the known sex are data; their joint log-density is a Potential.
                pm.Potential(f"x_{name}", mvnormal_mixture_logp(values[rows], weights[name], means[name], covs[name]))
    return model


def sex_initial_point(
    X: pd.DataFrame | np.ndarray, n_clusters: int = 3, *, random_seed: int = 0, features: Sequence[str] = FEATURES
) -> dict[str, np.ndarray]:
    """EM's start (:func:`~penguin_utils.models.em_initial_point`) with no sex shift and half males."""
    point = em_initial_point(X, n_clusters, random_seed=random_seed, features=features)
    n_features = point["mu"].shape[1]
    return {**point, "delta": np.zeros((n_clusters, n_features)), "pi": np.full(n_clusters, 0.5)}


def _sex_draws(idata, features: Sequence[str]):
    """Checked ``w``, ``mu``, ``chol`` and ``delta`` (chain, draw, cluster, feature), ``pi`` (chain, draw, cluster)."""
    draws = mixture_draws(idata, features)
    posterior = as_posterior(idata)
    expected = {"delta": ("chain", "draw", "cluster", "feature"), "pi": ("chain", "draw", "cluster")}
    for name, dims in expected.items():
        if name not in posterior:
            raise ValueError(f"The posterior lacks {name!r}; pass a fit of penguin_utils.sex.build_sex_mixture_model.")
        if set(posterior[name].dims) != set(dims):
            raise ValueError(f"The posterior's {name!r} must have dims {dims}, got {posterior[name].dims}.")
    delta = posterior["delta"].transpose(*expected["delta"]).values
    pi = posterior["pi"].transpose(*expected["pi"]).values
    if not (np.all(np.isfinite(delta)) and np.all((pi > 0) & (pi < 1))):
        raise ValueError("The posterior's delta must be finite and its pi strictly between 0 and 1.")
    return draws, delta, pi


def _joint(idata, X, features: Sequence[str]) -> tuple[np.ndarray, pd.Index, object, np.ndarray]:
    """``log w_k p(s | k) N(x_i | mu_k + s delta_k, Sigma_k)`` as (chain, draw, penguin, sex, cluster)."""
    draws, delta, pi = _sex_draws(idata, features)
    values, index = check_scaled(X, features)
    n_chain, n_draw, n_cluster, n_feature = draws.mu.shape
    n_sample = n_chain * n_draw
    w = np.concatenate([draws.w * (1 - pi), draws.w * pi], axis=-1)
    mu = np.concatenate([draws.mu, draws.mu + delta], axis=-2)
    chol = np.concatenate([draws.chol, draws.chol], axis=-3)
    q = _kernels.over_draws(
        np.ascontiguousarray(values, dtype=float),
        np.ascontiguousarray(w.reshape(n_sample, 2 * n_cluster)),
        np.ascontiguousarray(mu.reshape(n_sample, 2 * n_cluster, n_feature)),
        np.ascontiguousarray(chol.reshape(n_sample, 2 * n_cluster, n_feature, n_feature)),
        _kernels.COMPONENT_LOGP,
    )
    q = q.reshape(n_chain, n_draw, len(values), 2, n_cluster)
    return q, index if index.name else index.rename("penguin"), draws, pi


def _array(values: np.ndarray, index: pd.Index, draws, name: str, extra: tuple[str, ...] = ()) -> xr.DataArray:
    coords = {"chain": draws.coords["chain"], "draw": draws.coords["draw"], "penguin": np.asarray(index)}
    if "sex" in extra:
        coords["sex"] = list(SEXES)
    if "cluster" in extra:
        coords["cluster"] = draws.coords["cluster"]
    return xr.DataArray(values, dims=("chain", "draw", "penguin", *extra), coords=coords, name=name)


def joint_log_density(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """``log w_k p(s | k) N(x_i | mu_k + s delta_k, Sigma_k)`` for every draw, penguin, sex and cluster.

    Parameters
    ----------
    idata : arviz.InferenceData or xarray.Dataset
        A fit of :func:`build_sex_mixture_model` (``w``, ``mu``, ``chol``, ``delta``, ``pi``).
    X : DataFrame or ndarray, shape (n_penguins, n_features)
        Scaled measurements.
    features : sequence of str
        The features the posterior was fitted on.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, penguin, sex, cluster), ``sex`` being ``SEXES``.
    """
    q, index, draws, _ = _joint(idata, X, features)
    return _array(q, index, draws, "joint_log_density", ("sex", "cluster"))


def log_likelihood(idata, X: pd.DataFrame | np.ndarray, sex, *, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """Each penguin's log-likelihood of its measurements, per draw, for LOO.

    ``log p(x_i | s_i) = log p(x_i, s_i) - log p(s_i)`` for a penguin of known sex, with
    ``p(s_i) = sum_k w_k p(s_i | k)``, and ``log p(x_i)`` for one of unknown sex: the
    measurements are what is predicted, the known sex is a covariate. The book's mixture
    predicts the same 342 measurement vectors with ``log p(x_i)``, so the two elpds are
    comparable.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, penguin).
    """
    q, index, draws, pi = _joint(idata, X, features)
    codes = sex_codes(sex, index)
    by_sex = logsumexp(q, axis=-1)  # (chain, draw, penguin, sex): log p(x_i, s)
    log_sex = np.log(np.stack([(draws.w * (1 - pi)).sum(-1), (draws.w * pi).sum(-1)], axis=-1))
    known = codes != UNKNOWN
    out = logsumexp(by_sex, axis=-1)
    rows = np.flatnonzero(known)
    out[..., rows] = by_sex[..., rows, codes[rows]] - log_sex[..., codes[rows]]
    return _array(out, index, draws, "log_likelihood")


def male_probability(idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """``P(s_i = male | x_i)`` under every draw, from the measurements alone (any known sex ignored).

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, penguin), values in [0, 1].
    """
    q, index, draws, _ = _joint(idata, X, features)
    by_sex = logsumexp(q, axis=-1)
    return _array(np.exp(by_sex[..., 1] - logsumexp(by_sex, axis=-1)), index, draws, "male_probability")


def draw_probabilities(idata, X: pd.DataFrame | np.ndarray, sex, *, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """Each penguin's cluster probabilities ``p(z_i = k | x_i, s_i)`` under every draw.

    Known sex conditions on it; unknown sex is summed over. The result has the layout of
    :func:`penguin_utils.assign.draw_probabilities`, so :mod:`penguin_utils.uncertainty`
    works on it.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, penguin, cluster); sums to 1 over ``cluster``.
    """
    q, index, draws, _ = _joint(idata, X, features)
    codes = sex_codes(sex, index)
    rows = np.flatnonzero(codes != UNKNOWN)
    logp = logsumexp(q, axis=-2)  # unknown sex: summed over
    logp[..., rows, :] = q[..., rows, codes[rows], :]
    probs = np.exp(logp - logsumexp(logp, axis=-1, keepdims=True))
    return _array(probs, index, draws, "probability", ("cluster",))


def posterior_predictive(idata, sex, *, random_seed: int = 0, features: Sequence[str] = FEATURES) -> xr.DataArray:
    """One replicated data set per posterior draw, each penguin with its own sex.

    For a penguin of known sex ``s_i``, ``z ~ p(z | s_i) ∝ w_z p(s_i | z)`` and then
    ``x ~ MvNormal(mu_z + s_i delta_z, Sigma_z)``; for one of unknown sex, sex and cluster
    are both drawn. Vectorised over draws and penguins; thin ``idata`` first
    (``idata.sel(draw=slice(None, None, 8))``) for fewer data sets.

    Parameters
    ----------
    idata : arviz.InferenceData or xarray.Dataset
        A fit of :func:`build_sex_mixture_model`.
    sex : pandas.Series or array-like, shape (n_penguins,)
        The penguins to replicate, by sex (see :func:`sex_codes`); a Series' index labels them.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, penguin, feature), in scaled units.
    """
    draws, delta, pi = _sex_draws(idata, features)
    index = sex.index if isinstance(sex, pd.Series) else pd.RangeIndex(len(sex), name="penguin")
    codes = sex_codes(sex)
    rng = np.random.default_rng(random_seed)
    n_chain, n_draw, n_cluster, n_feature = draws.mu.shape
    shape = (n_chain, n_draw, len(codes))
    # p(s, z) for every draw, (chain, draw, 1, sex, cluster); known sex keeps its own row.
    joint = np.stack([draws.w * (1 - pi), draws.w * pi], axis=-2)[:, :, None]
    allowed = np.stack([codes != 1, codes != 0], axis=-1)[None, None, :, :, None]
    table = np.where(allowed, joint, 0.0).reshape(*shape, 2 * n_cluster)
    cumulative = np.cumsum(table, axis=-1)
    u = rng.uniform(size=(*shape, 1)) * cumulative[..., -1:]
    pick = np.minimum((u >= cumulative).sum(axis=-1), 2 * n_cluster - 1)
    s, z = np.divmod(pick, n_cluster)
    c, d = np.indices((n_chain, n_draw))
    c, d = c[..., None], d[..., None]
    mean = draws.mu[c, d, z] + s[..., None] * delta[c, d, z]
    eps = rng.standard_normal((*shape, n_feature))
    x = mean + np.einsum("cdnij,cdnj->cdni", draws.chol[c, d, z], eps)
    return xr.DataArray(
        x,
        dims=("chain", "draw", "penguin", "feature"),
        coords={
            "chain": draws.coords["chain"],
            "draw": draws.coords["draw"],
            "penguin": np.asarray(index),
            "feature": list(features),
        },
        name="x",
    )
