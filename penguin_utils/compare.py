"""Compare mixtures with different numbers of clusters: PSIS-LOO, BIC, and convergence first.

LOO needs each penguin's log-likelihood under every posterior draw.  For a mixture that is
the *mixture* density ``log sum_k w_k N(x_i | mu_k, Sigma_k)``, the likelihood the model
was fitted with; the density of a penguin given one cluster label would score a different
model.  A comparison is only as good as the fits behind it, so :func:`compare_fits` reports
each fit's r_hat, effective sample size, divergences, ``p_loo`` and Pareto-k diagnostics
beside its LOO, and ranks only the fits that converged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from penguin_utils._validation import check_positive_int, check_scaled
from penguin_utils.assign import mixture_log_likelihood
from penguin_utils.data import FEATURES

__all__ = ["add_log_likelihood", "bic_by_k", "compare_fits", "sampling_diagnostics"]

#: Thresholds of Vehtari et al. (2021) for "converged enough to compare": rank-normalised
#: split r_hat and the smaller of bulk and tail ESS (over all chains).
R_HAT_MAX = 1.01
ESS_MIN = 400


def add_log_likelihood(
    idata, X: pd.DataFrame | np.ndarray, *, features: Sequence[str] = FEATURES, var_name: str = "x"
) -> az.InferenceData:
    """A copy of ``idata`` with the pointwise mixture log-likelihood, ready for ``az.loo``.

    The log-likelihood is :func:`penguin_utils.assign.mixture_log_likelihood`.

    Adds the groups ``log_likelihood`` (``var_name``: chain, draw, penguin) and, if absent,
    ``observed_data``.
    """
    values, _ = check_scaled(X, features)
    loglik = mixture_log_likelihood(idata, X, features=features).rename(var_name)
    groups = {name: idata[name] for name in idata.groups() if name != "log_likelihood"}
    groups["log_likelihood"] = xr.Dataset({var_name: loglik})
    groups.setdefault(
        "observed_data",
        xr.Dataset(
            {var_name: (("penguin", "feature"), values)},
            coords={"penguin": loglik["penguin"].values, "feature": list(features)},
        ),
    )
    return az.InferenceData(**groups)


def sampling_diagnostics(idata, var_names: Sequence[str] = ("w", "mu", "chol")) -> dict:
    """Convergence of a fit in four numbers.

    Returns
    -------
    dict
        ``r_hat`` (largest over all entries), ``ess`` (smallest bulk or tail ESS),
        ``divergences`` (count over all chains) and ``draws`` (chains × draws).  Entries that
        never vary (the fixed zeros above a Cholesky diagonal, a single weight of 1) are skipped.
    """
    from penguin_utils.sampling import convergence_summary

    summary = convergence_summary(idata, var_names)
    return {
        "r_hat": float(summary["r_hat"].max()),  # NaN entries (constant, or one chain) skipped
        "ess": float(summary[["ess_bulk", "ess_tail"]].min().min()),
        "divergences": summary.attrs["divergences"],
        "draws": int(idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]),
    }


def compare_fits(
    fits: Mapping[object, az.InferenceData],
    *,
    r_hat_max: float = R_HAT_MAX,
    ess_min: float = ESS_MIN,
    var_names: Sequence[str] = ("w", "mu", "chol"),
) -> pd.DataFrame:
    """PSIS-LOO of several fits, next to the diagnostics that say whether to trust it.

    Parameters
    ----------
    fits : mapping
        ``{label: idata}``, each with a ``log_likelihood`` group (see :func:`add_log_likelihood`).
    r_hat_max, ess_min : float
        A fit counts as converged with r_hat at most ``r_hat_max``, ESS at least ``ess_min``
        and no divergences.

    Returns
    -------
    pandas.DataFrame
        One row per fit, in the order given: ``elpd_loo``, ``se``, ``p_loo``, ``pareto_k_bad``
        (penguins with Pareto k > 0.7, whose LOO estimate is unreliable), ``loo_warning``,
        ``r_hat``, ``ess``, ``divergences``, ``draws`` (of the parameters, see
        :func:`sampling_diagnostics`), ``r_hat_loglik`` (largest r_hat of the pointwise
        log-likelihood: label-invariant, so untouched by label switching within chains),
        ``converged``, and ``rank`` from
        ``az.compare`` over the converged fits only (0 = best; missing for the others).
    """
    if not fits:
        raise ValueError("fits is empty; pass {label: idata} for at least one fit.")
    rows = {}
    for label, idata in fits.items():
        if "log_likelihood" not in idata.groups():
            raise ValueError(
                f"fit {label!r} has no log_likelihood group; add it with "
                "penguin_utils.compare.add_log_likelihood(idata, X)."
            )
        loo = az.loo(idata, pointwise=True)
        diag = sampling_diagnostics(idata, var_names)
        with np.errstate(invalid="ignore", divide="ignore"):
            loglik_r_hat = float(np.nanmax(az.rhat(idata.log_likelihood).to_array().values))
        rows[label] = {
            "elpd_loo": float(loo.elpd_loo),
            "se": float(loo.se),
            "p_loo": float(loo.p_loo),
            "pareto_k_bad": int((loo.pareto_k.values > 0.7).sum()),
            "loo_warning": bool(loo.warning),
            **diag,
            "r_hat_loglik": loglik_r_hat,
            "converged": diag["r_hat"] <= r_hat_max and diag["ess"] >= ess_min and diag["divergences"] == 0,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "fit"
    converged = [label for label in fits if table.loc[label, "converged"]]
    table["rank"] = pd.Series(dtype="Int64")
    if len(converged) >= 2:
        ranking = az.compare({str(label): fits[label] for label in converged})
        table.loc[converged, "rank"] = [int(ranking.loc[str(label), "rank"]) for label in converged]
    elif len(converged) == 1:
        table.loc[converged, "rank"] = 0
    table["rank"] = table["rank"].astype("Int64")
    return table


def bic_by_k(
    X: pd.DataFrame | np.ndarray,
    n_clusters: Iterable[int] = range(1, 6),
    *,
    n_init: int = 10,
    random_state: int = 0,
    features: Sequence[str] = FEATURES,
) -> pd.DataFrame:
    """BIC and AIC of scikit-learn's full-covariance EM fit for each number of clusters.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``K``: ``n_parameters``, ``log_likelihood`` (total, at the EM optimum),
        ``bic`` and ``aic`` (lower is better).
    """
    from sklearn.mixture import GaussianMixture

    values, _ = check_scaled(X, features)
    n, d = values.shape
    rows = {}
    for k in n_clusters:
        k = check_positive_int(k, "every number of clusters", at_most=n, of="penguins in X")
        gm = GaussianMixture(k, covariance_type="full", n_init=n_init, random_state=random_state).fit(values)
        rows[int(k)] = {
            # weights, means and full covariances
            "n_parameters": int(k - 1 + k * d + k * d * (d + 1) // 2),
            "log_likelihood": float(gm.score(values) * n),
            "bic": float(gm.bic(values)),
            "aic": float(gm.aic(values)),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "K"
    return table
