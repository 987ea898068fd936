"""The two Gaussian mixture models of the book, built on one set of priors.

Both models expose the same posterior variables with named dims, so everything
downstream (relabelling, assignment, saving) works on either:

``w`` (cluster)
    mixture weights;
``mu`` (cluster, feature)
    component means in scaled units;
``chol`` (cluster, feature, feature_)
    lower Cholesky factor of each component covariance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from penguin_utils._validation import check_positive_int, check_scaled
from penguin_utils.data import FEATURES
from penguin_utils.mixture_logp import mvnormal_mixture_logp

__all__ = [
    "DATA_NAME",
    "PriorSettings",
    "build_categorical_model",
    "build_mixture_model",
    "describe_model",
    "em_initial_point",
    "sparse_initial_point",
]

#: Name of the ``pm.Data`` holding the measurements in :func:`build_mixture_model`'s models.
DATA_NAME = "x_obs"


@dataclass(frozen=True)
class PriorSettings:
    """Hyperparameters of the shared priors (scaled data, so unit-free).

    ``priors=`` of the model builders takes one of these or a mapping of its fields,
    e.g. ``{"mu_sigma": 2.0}`` (the others keep their defaults).

    Parameters
    ----------
    mu_sigma : float
        Standard deviation of the Normal prior on every component mean.
    sd_sigma : float
        Scale of the prior on every component standard deviation: the HalfNormal's
        scale, or the Gamma's mean.
    lkj_eta : float
        LKJ concentration of the correlation matrices; 2 mildly favours weaker correlations.
    dirichlet_alpha : float
        Concentration of the symmetric Dirichlet prior on the weights.
    sd_prior : {"halfnormal", "gamma"}
        Family of the prior on the standard deviations. The HalfNormal has its mode at
        zero; the Gamma (shape ``sd_shape``, mean ``sd_sigma``) has zero density there,
        which keeps a component from collapsing onto a few penguins.
    sd_shape : float
        Shape of the Gamma prior (only with ``sd_prior="gamma"``); a larger shape keeps
        the standard deviations further from zero.

    Raises
    ------
    TypeError
        If a numeric field is not a real number.
    ValueError
        If a numeric field is not positive and finite, or ``sd_prior`` is unknown.
    """

    mu_sigma: float = 1.5
    sd_sigma: float = 1.0
    lkj_eta: float = 2.0
    dirichlet_alpha: float = 1.0
    sd_prior: str = "halfnormal"
    sd_shape: float = 2.0

    def __post_init__(self):
        if self.sd_prior not in _SD_PRIORS:
            raise ValueError(f"PriorSettings.sd_prior must be one of {list(_SD_PRIORS)}, got {self.sd_prior!r}.")
        for field in fields(self):
            if field.name == "sd_prior":
                continue
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"PriorSettings.{field.name} must be a number, got {type(value).__name__} {value!r}.")
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"PriorSettings.{field.name} must be a positive number, got {value!r}.")
            object.__setattr__(self, field.name, float(value))

    @classmethod
    def coerce(cls, priors: PriorSettings | Mapping[str, float] | None) -> PriorSettings:
        """``priors`` as a :class:`PriorSettings`: the defaults for None, a mapping's fields filled in."""
        if priors is None:
            return cls()
        if isinstance(priors, cls):
            return priors
        names = [f.name for f in fields(cls)]
        if not isinstance(priors, Mapping):
            raise TypeError(
                f"priors must be a PriorSettings or a mapping with keys from {names}, got {type(priors).__name__}."
            )
        unknown = sorted(str(k) for k in priors if k not in names)
        if unknown:
            raise ValueError(f"priors has unknown setting(s) {unknown}; the settings are {names}.")
        return cls(**priors)

    def sd_dist(self, n_features: int):
        """The prior of one component's ``n_features`` standard deviations, for ``LKJCholeskyCov``."""
        if self.sd_prior == "gamma":
            return pm.Gamma.dist(alpha=self.sd_shape, beta=self.sd_shape / self.sd_sigma, shape=n_features)
        return pm.HalfNormal.dist(self.sd_sigma, shape=n_features)


_SD_PRIORS = ("halfnormal", "gamma")


def _coords(index: pd.Index, n_clusters: int, features: Sequence[str]) -> dict:
    return {
        "cluster": np.arange(n_clusters),
        "feature": list(features),
        "feature_": list(features),
        "penguin": np.asarray(index),
    }


def _cluster_priors(
    n_clusters: int, n_features: int, priors: PriorSettings, ordered: str | None = None
) -> tuple[pt.TensorVariable, pt.TensorVariable, list[pt.TensorVariable], pt.TensorVariable]:
    """Add ``w``, ``mu`` and ``chol`` to the model on the context stack.

    Returns the weights (cluster,), the means (cluster, feature), the list of
    per-cluster Cholesky factors (feature, feature) and ``chol``, their stack
    (cluster, feature, feature).
    """
    w = pm.Dirichlet("w", a=np.full(n_clusters, priors.dirichlet_alpha), dims="cluster")
    if ordered is None:
        mu = pm.Normal("mu", 0.0, priors.mu_sigma, dims=("cluster", "feature"))
    else:
        mu = _ordered_means(ordered, n_clusters, priors)
    # One LKJCholeskyCov per cluster: PyMC 5 implements its logp for a single matrix only.
    chols = []
    for k in range(n_clusters):
        packed = pm.LKJCholeskyCov(
            f"chol_packed_{k}",
            n=n_features,
            eta=priors.lkj_eta,
            sd_dist=priors.sd_dist(n_features),
            compute_corr=False,
        )
        chols.append(pm.expand_packed_triangular(n_features, packed, lower=True))
    chol = pm.Deterministic("chol", pt.stack(chols), dims=("cluster", "feature", "feature_"))
    return w, mu, chols, chol


def _ordered_means(ordered: str, n_clusters: int, priors: PriorSettings) -> pt.TensorVariable:
    """``mu`` with the same Normal prior, its ``ordered`` column increasing over the clusters."""
    model = pm.modelcontext(None)
    features = list(model.coords["feature"])
    if ordered not in features:
        raise ValueError(f"ordered={ordered!r} is not a feature; choose one of {features}.")
    others = [f for f in features if f != ordered]
    model.add_coord("other_feature", others)
    # The ordered transform samples the first mean and the log-gaps between neighbours;
    # its start must be increasing (the default, all zeros, is not).
    increasing = pm.Normal(
        f"mu_{ordered}",
        0.0,
        priors.mu_sigma,
        dims="cluster",
        transform=pm.distributions.transforms.ordered,
        initval=np.linspace(-1.0, 1.0, n_clusters),
    )
    rest = pm.Normal("mu_other", 0.0, priors.mu_sigma, dims=("cluster", "other_feature"))
    columns = [increasing if f == ordered else rest[:, others.index(f)] for f in features]
    return pm.Deterministic("mu", pt.stack(columns, axis=1), dims=("cluster", "feature"))


def build_mixture_model(
    X: pd.DataFrame | np.ndarray,
    n_clusters: int = 3,
    *,
    priors: PriorSettings | Mapping[str, float] | None = None,
    features: Sequence[str] = FEATURES,
    fused_logp: bool = True,
    ordered: str | None = None,
) -> pm.Model:
    """Gaussian mixture with the cluster label summed out (``pm.Mixture``).

    Parameters
    ----------
    X : DataFrame or ndarray, shape (n_penguins, n_features)
        Scaled measurements (``scaler.transform(df)``).
    n_clusters : int, default 3
    priors : PriorSettings or mapping, optional
        Hyperparameters, as a :class:`PriorSettings` or a mapping of some of its fields
        (e.g. ``{"mu_sigma": 2.0}``); unset ones take the defaults of :class:`PriorSettings`.
    features : sequence of str
        Names of the columns of ``X``.
    fused_logp : bool, default True
        Evaluate the likelihood with the fused operation of
        :mod:`penguin_utils.mixture_logp` (same density, several times cheaper per NUTS
        step; see ``benchmarks/``). With False, PyMC derives the likelihood from ``pm.Mixture`` over a list of
        ``MvNormal`` components, as the original blog post did. Either way, forward
        sampling (prior and posterior predictive) uses ``pm.Mixture``.
    ordered : str, optional
        A feature whose cluster means must increase with the cluster number (an
        ``ordered`` transform, chapter 9). ``mu`` then becomes a deterministic built from
        the free ``mu_<feature>`` (cluster) and ``mu_other`` (cluster, other_feature),
        with the same Normal prior on every mean.

    Returns
    -------
    pymc.Model
        Free variables ``w``, ``mu``, ``chol_packed_{k}``; deterministic ``chol``;
        data :data:`DATA_NAME` and observed ``x``, both (penguin, feature). Holding ``X``
        in ``pm.Data`` lets nutpie's ``with_data`` give the compiled model other data
        (chapters 7 and 16), and a model built on other penguins compiles to the same
        code, which later fits load from the cache.
    """
    values, index = check_scaled(X, features)
    n_clusters = check_positive_int(n_clusters, "n_clusters", at_most=len(values), of="penguins in X")
    priors = PriorSettings.coerce(priors)
    with pm.Model(coords=_coords(index, n_clusters, features)) as model:
        w, mu, chols, chol = _cluster_priors(n_clusters, len(features), priors, ordered)
        observed = pm.Data(DATA_NAME, values, dims=("penguin", "feature"))
        if fused_logp:
            pm.CustomDist(
                "x",
                w,
                mu,
                chol,
                dist=_mixture_dist,
                logp=_mixture_logp,
                signature="(k),(k,d),(k,d,d)->(d)",
                observed=observed,
                dims=("penguin", "feature"),
            )
        else:
            components = [pm.MvNormal.dist(mu=mu[k], chol=chols[k]) for k in range(n_clusters)]
            pm.Mixture("x", w=w, comp_dists=components, observed=observed, dims=("penguin", "feature"))
    return model


def _mixture_dist(w, mu, chol, size):
    """The generative story: a ``pm.Mixture`` of ``MvNormal`` components."""
    return pm.Mixture.dist(w=w, comp_dists=pm.MvNormal.dist(mu=mu, chol=chol), size=size)


def _mixture_logp(value, w, mu, chol):
    """The same density as :func:`_mixture_dist`, in one fused operation (see mixture_logp)."""
    return mvnormal_mixture_logp(value, w, mu, chol)


def build_categorical_model(
    X: pd.DataFrame | np.ndarray,
    n_clusters: int = 3,
    *,
    priors: PriorSettings | Mapping[str, float] | None = None,
    features: Sequence[str] = FEATURES,
) -> pm.Model:
    """Gaussian mixture with an explicit ``Categorical`` label ``z`` per penguin.

    Same parameters, priors and returned variables as :func:`build_mixture_model`,
    plus the discrete ``z`` (penguin), which NUTS cannot sample: PyMC assigns it a
    Gibbs step (``CategoricalGibbsMetropolis``) in a compound step.
    """
    values, index = check_scaled(X, features)
    n_clusters = check_positive_int(n_clusters, "n_clusters", at_most=len(values), of="penguins in X")
    priors = PriorSettings.coerce(priors)
    with pm.Model(coords=_coords(index, n_clusters, features)) as model:
        w, mu, _, chol = _cluster_priors(n_clusters, len(features), priors)
        z = pm.Categorical("z", p=w, dims="penguin")
        pm.MvNormal("x", mu=mu[z], chol=chol[z], observed=values, dims=("penguin", "feature"))
    return model


def em_initial_point(
    X: pd.DataFrame | np.ndarray,
    n_clusters: int = 3,
    *,
    random_seed: int = 0,
    features: Sequence[str] = FEATURES,
) -> dict[str, np.ndarray]:
    """Starting values for the samplers from an EM fit (scikit-learn ``GaussianMixture``).

    Starting every chain near the same mode keeps the chains from settling on
    different permutations of the labels and from wandering through regions where
    two components share one species.  Clusters are ordered by their mean of the
    first feature, so the same data always give the same labels.

    Returns
    -------
    dict
        ``{"w": (cluster,), "mu": (cluster, feature), "chol_packed_k": (n_features * (n_features + 1) / 2,)}``
        in the models' constrained space, ready for ``initvals`` or nutpie's ``initial_points``.
    """
    from sklearn.mixture import GaussianMixture

    values, _ = check_scaled(X, features)
    n_clusters = check_positive_int(n_clusters, "n_clusters", at_most=len(values), of="penguins in X")
    gm = GaussianMixture(n_clusters, covariance_type="full", n_init=5, random_state=random_seed).fit(values)
    order = np.argsort(gm.means_[:, 0])
    rows, cols = np.tril_indices(values.shape[1])
    point = {"w": gm.weights_[order], "mu": gm.means_[order]}
    for k, j in enumerate(order):
        point[f"chol_packed_{k}"] = np.linalg.cholesky(gm.covariances_[j])[rows, cols]
    return point


def sparse_initial_point(
    X: pd.DataFrame | np.ndarray,
    n_clusters: int,
    n_occupied: int = 3,
    *,
    spare_weight: float = 0.03,
    random_seed: int = 0,
    features: Sequence[str] = FEATURES,
) -> dict[str, np.ndarray]:
    """Starting values for a mixture with more components than groups (chapter 15).

    EM with ``n_clusters`` components and no prior to empty any of them would cut the
    groups into ``n_clusters`` pieces. Instead the first ``n_occupied`` components start
    at :func:`em_initial_point` with ``n_occupied`` clusters, their weights scaled by
    ``1 - spare_weight``; the spare components share ``spare_weight`` equally and start
    at the centre of the scaled data (means 0) with unit covariances. They hold weight at
    the start, so the sampler is free to fill them or to drain them.

    Returns
    -------
    dict
        ``{"w": (n_clusters,), "mu": (n_clusters, feature), "chol_packed_k": (n_features * (n_features + 1) / 2,)}``
        for ``k`` in ``range(n_clusters)``, as :func:`em_initial_point` gives them.
    """
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    n_occupied = check_positive_int(n_occupied, "n_occupied")
    if n_occupied >= n_clusters:
        raise ValueError(
            f"n_occupied={n_occupied} leaves no spare component of the n_clusters={n_clusters}; "
            "give fewer occupied clusters, or use em_initial_point(X, n_clusters)."
        )
    if not 0 < spare_weight < 1:
        raise ValueError(f"spare_weight is the spare components' share of the weight, in (0, 1); got {spare_weight!r}.")
    em = em_initial_point(X, n_occupied, random_seed=random_seed, features=features)
    n_spare = n_clusters - n_occupied
    n_features = em["mu"].shape[1]
    rows, cols = np.tril_indices(n_features)
    unit = np.eye(n_features)[rows, cols]
    point = {
        "w": np.concatenate([(1 - spare_weight) * em["w"], np.full(n_spare, spare_weight / n_spare)]),
        "mu": np.concatenate([em["mu"], np.zeros((n_spare, n_features))]),
    }
    for k in range(n_clusters):
        point[f"chol_packed_{k}"] = em[f"chol_packed_{k}"] if k < n_occupied else unit.copy()
    return point


def describe_model(model: pm.Model) -> pd.DataFrame:
    """A table of the model's variables: a text stand-in for ``pm.model_to_graphviz``.

    Returns
    -------
    pandas.DataFrame
        One row per variable, indexed by name, with its ``role`` (free, deterministic,
        observed, data: the ``pm.Data`` the observed values come from), ``distribution`` and
        ``dims`` (or the shape, for variables without dims).
    """
    start = model.initial_point()
    rows = []
    roles = [
        ("free", model.free_RVs),
        ("deterministic", model.deterministics),
        ("observed", model.observed_RVs),
        ("data", model.data_vars),
    ]
    for role, variables in roles:
        for var in variables:
            dims = model.named_vars_to_dims.get(var.name)
            if dims:
                layout = "(" + ", ".join(f"{d}={len(model.coords[d])}" for d in dims) + ")"
            elif role == "data":
                layout = str(tuple(int(n) for n in var.shape.eval()))
            else:
                layout = str(start[model.rvs_to_values[var].name].shape)
            rows.append(
                {
                    "variable": var.name,
                    "role": role,
                    "distribution": _distribution_name(var.owner.op) if role in ("free", "observed") else "",
                    "dims": layout,
                }
            )
    return pd.DataFrame(rows).set_index("variable")


def _distribution_name(op) -> str:
    name = getattr(op, "name", None) or type(op).__name__.strip("_").removesuffix("RV")
    return name.replace("_", " ")
