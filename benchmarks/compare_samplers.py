"""Time every way the book fits the three-cluster model, in one run on one machine.

Rows: the explicit-categorical model (compound NUTS + Gibbs, PyMC, NUMBA mode), the
mixture model with nutpie (fused logp, five seeds; and the post's pm.Mixture logp), the
mixture model with PyMC's own NUTS (NUMBA mode), and scikit-learn's EM baseline.
Accuracy is against the species: misassigned penguins after matching clusters to
species, and the adjusted Rand index. r_hat and bulk ESS are the worst over ``w`` and
``mu``, after aligning the chains' labels. OpenBLAS is held to one thread for every run,
as ``sampling.sample_mixture`` holds it for nutpie (PyMC's worker processes are forked and
inherit the limit): the models' 4 x 4 Cholesky solves gain nothing from BLAS threads, which
only spin against the samplers' own. The 1-minute load average before and after the run is
recorded beside the machine.

Run: ``.venv/bin/python benchmarks/compare_samplers.py`` (about 4 minutes on 2 cores;
``--quick`` for a smoke run). Writes benchmarks/results.csv (read by chapter 12) and
benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import pandas as pd
import pymc as pm
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from penguin_utils.assign import assign_clusters, label_frequencies
from penguin_utils.evaluate import species_agreement
from penguin_utils.models import build_categorical_model, build_mixture_model, em_initial_point
from penguin_utils.relabel import align_chains
from penguin_utils.sampling import compile_mixture, convergence_summary, sample_categorical, sample_mixture

from _common import machine, markdown_table, penguins_scaled

warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
warnings.filterwarnings("ignore", category=FutureWarning)


def _diagnostics(idata) -> dict:
    summary = convergence_summary(idata, var_names=["w", "mu"])
    divergences = summary.attrs["divergences"]
    several = idata.posterior.sizes["chain"] > 1
    return {
        "r_hat_max": float(summary["r_hat"].max()) if several else float("nan"),
        "ess_bulk_min": float(summary["ess_bulk"].min()),
        "divergences": divergences,
    }


def _accuracy(assignment: pd.DataFrame, species: pd.Series) -> dict:
    result = species_agreement(assignment["cluster"], species)
    return {"misassigned": int(result["misassigned"]), "ari": float(result["ari"])}


def _row(name, chains, cores, tune, draws, compile_s, sample_s, extra) -> dict:
    """One result. Runs with different chains compare as effective draws per second (the
    smallest bulk ESS over ``w`` and ``mu`` per second of sampling wall time) and as wall
    time per 1000 kept draws (all chains, tuning included in the time)."""
    row = {
        "run": name,
        "chains": chains,
        "cores": cores,
        "tune": tune,
        "draws": draws,
        "compile_s": compile_s,
        "sampling_s": sample_s,
        **extra,
    }
    if chains:
        row["ess_bulk_per_s"] = row["ess_bulk_min"] / sample_s
        row["s_per_1000_draws"] = 1000 * sample_s / (chains * draws)
    return row


def _markdown(results: pd.DataFrame) -> str:
    def fmt(value, spec):
        return "n/a" if pd.isna(value) else format(value, spec)

    rows = [
        {
            "run": r.run,
            "chains (cores)": "n/a" if pd.isna(r.chains) else f"{r.chains:.0f} ({r.cores:.0f})",
            "tune + draws": "n/a" if pd.isna(r.chains) else f"{r.tune:.0f} + {r.draws:.0f}",
            "compile s": fmt(r.compile_s, ".0f"),
            "sampling s": fmt(r.sampling_s, ".1f"),
            "s / 1000 draws": fmt(r.s_per_1000_draws, ".2f"),
            "ESS bulk min": fmt(r.ess_bulk_min, ".0f"),
            "ESS / s": fmt(r.ess_bulk_per_s, ".1f"),
            "r_hat max": fmt(r.r_hat_max, ".3f"),
            "divergences": fmt(r.divergences, ".0f"),
            "misassigned": r.misassigned,
            "ARI": f"{r.ari:.3f}",
        }
        for r in results.itertuples()
    ]
    return markdown_table(rows)


def main() -> None:
    load_before = os.getloadavg()[0]
    with threadpool_limits(1, user_api="blas"):
        rows, quick = _run_all()
    load_after = os.getloadavg()[0]
    results = pd.DataFrame(rows)
    results.loc[results["chains"] == 0, ["chains", "cores", "tune", "draws"]] = float("nan")
    results["quick"] = quick
    results["machine"] = machine()
    results["date"] = time.strftime("%Y-%m-%d")
    results["load_before"] = load_before
    results["load_after"] = load_after
    stem = "results_quick" if quick else "results"
    results.to_csv(Path(__file__).with_name(f"{stem}.csv"), index=False)
    text = (
        "Every fit of the three-cluster model, timed in one run of `benchmarks/compare_samplers.py`"
        f"{' (--quick)' if quick else ''}, OpenBLAS held to one thread.\n"
        "Compile s is model building and compilation (Numba caches make it shorter on a second run); "
        "sampling s is the sampler alone, tuning included, in wall time with the chains sharing the "
        "cores; s / 1000 draws is that time per 1000 kept draws of all chains; ESS / s is the smallest "
        "bulk effective sample size over `w` and `mu` per second of sampling.\n\n"
        f"Machine: {machine()}; load average (1 min) {load_before:.2f} before, {load_after:.2f} after\n\n"
        f"{_markdown(results)}\n"
    )
    Path(__file__).with_name(f"{stem}.md").write_text(text)
    print(text)


def _run_all() -> tuple[list[dict], bool]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny runs, to check the script works")
    args = parser.parse_args()
    cat_tune = cat_draws = 20 if args.quick else 500
    tune = draws = 200 if args.quick else 1000
    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    usable = len(os.sched_getaffinity(0))

    penguins, X = penguins_scaled()
    species = penguins["species"]
    start = em_initial_point(X)
    rows = []

    # Two chains on two cores, so that every sampler uses the whole machine.
    cat_chains = min(2, usable)
    t0 = time.perf_counter()
    model = build_categorical_model(X)
    idata = sample_categorical(
        model, start, tune=cat_tune, draws=cat_draws, chains=cat_chains, cores=cat_chains, random_seed=0
    )
    total = time.perf_counter() - t0
    sampling = idata.posterior.attrs["sampling_time"]
    rows.append(
        _row(
            "categorical: PyMC NUTS + CategoricalGibbsMetropolis, NUMBA mode",
            cat_chains,
            cat_chains,
            cat_tune,
            cat_draws,
            total - sampling,
            sampling,
            {**_diagnostics(idata), **_accuracy(label_frequencies(idata), species)},
        )
    )
    print(rows[-1], flush=True)

    for label, fused in [
        ("mixture, fused logp: nutpie", True),
        ("mixture, pm.Mixture logp (the post's): nutpie", False),
    ]:
        t0 = time.perf_counter()
        compiled = compile_mixture(build_mixture_model(X, fused_logp=fused), start)
        compile_s = time.perf_counter() - t0
        for seed in seeds if fused else seeds[:1]:
            t0 = time.perf_counter()
            idata = sample_mixture(compiled, tune=tune, draws=draws, random_seed=seed)
            sample_s = time.perf_counter() - t0
            rows.append(
                _row(
                    f"{label}, seed {seed}",
                    4,
                    min(4, usable),  # sample_mixture's default: a core per chain, at most the usable ones
                    tune,
                    draws,
                    compile_s,
                    sample_s,
                    {**_diagnostics(idata), **_accuracy(assign_clusters(idata, X), species)},
                )
            )
            print(rows[-1], flush=True)

    t0 = time.perf_counter()
    model = build_mixture_model(X)
    with model:
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=4,
            cores=2,
            initvals=start,
            random_seed=0,
            init="adapt_diag",  # start exactly at the EM point, as nutpie does: no jitter
            progressbar=False,
            compile_kwargs={"mode": "NUMBA"},
        )
    total = time.perf_counter() - t0
    idata = align_chains(idata)
    sampling = idata.posterior.attrs["sampling_time"]
    rows.append(
        _row(
            "mixture, fused logp: PyMC NUTS, NUMBA mode",
            4,
            2,
            tune,
            draws,
            total - sampling,
            sampling,
            {**_diagnostics(idata), **_accuracy(assign_clusters(idata, X), species)},
        )
    )
    print(rows[-1], flush=True)

    t0 = time.perf_counter()
    gm = GaussianMixture(3, covariance_type="full", n_init=10, random_state=0).fit(X.to_numpy())
    em_s = time.perf_counter() - t0
    em_assign = pd.DataFrame({"cluster": gm.predict(X.to_numpy())}, index=X.index)
    rows.append(
        _row("scikit-learn GaussianMixture (EM, n_init=10)", 0, 1, 0, 0, 0.0, em_s, _accuracy(em_assign, species))
    )
    return rows, args.quick


if __name__ == "__main__":
    main()
