"""Time every way the book fits the three-cluster model, in one run on one machine.

Rows: the explicit-categorical model (compound NUTS + Gibbs, PyMC, NUMBA mode), the
mixture model with nutpie (fused logp, five seeds; and the post's pm.Mixture logp), the
mixture model with PyMC's own NUTS (NUMBA mode), and scikit-learn's EM baseline.
Accuracy is against the species: misassigned penguins after matching clusters to
species, and the adjusted Rand index. r_hat and bulk ESS are the worst over ``w`` and
``mu``, after aligning the chains' labels.

Run: ``.venv/bin/python benchmarks/compare_samplers.py`` (about 4 minutes on 2 cores;
``--quick`` for a smoke run). Writes benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import arviz as az
import pandas as pd
import pymc as pm
from sklearn.mixture import GaussianMixture

from penguin_utils.assign import assign_clusters, label_frequencies
from penguin_utils.evaluate import species_agreement
from penguin_utils.models import build_categorical_model, build_mixture_model, em_initial_point
from penguin_utils.relabel import align_chains
from penguin_utils.sampling import compile_mixture, sample_categorical, sample_mixture

from _common import machine, markdown_table, penguins_scaled

warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
warnings.filterwarnings("ignore", category=FutureWarning)


def _diagnostics(idata) -> dict:
    summary = az.summary(idata, var_names=["w", "mu"], kind="diagnostics")
    divergences = int(idata.sample_stats["diverging"].sum()) if "sample_stats" in idata else 0
    return {
        "r_hat max": f"{summary['r_hat'].max():.3f}" if idata.posterior.sizes["chain"] > 1 else "n/a (1 chain)",
        "ESS bulk min": f"{summary['ess_bulk'].min():.0f}",
        "divergences": divergences,
    }


def _accuracy(assignment: pd.DataFrame, species: pd.Series) -> dict:
    result = species_agreement(assignment["cluster"], species)
    return {"misassigned": result["misassigned"], "ARI": f"{result['ari']:.3f}"}


def _row(name, chains, tune, draws, compile_s, sample_s, extra) -> dict:
    """One table row; ``ms / iteration`` is wall time per iteration of one chain."""
    per_iteration = 1e3 * sample_s / (chains * (tune + draws)) if chains else float("nan")
    return {
        "run": name,
        "chains × (tune + draws)": f"{chains} × ({tune} + {draws})" if chains else "n/a",
        "compile s": f"{compile_s:.0f}",
        "sampling s": f"{sample_s:.1f}",
        "ms / iteration": f"{per_iteration:.2f}" if chains else "n/a",
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny runs, to check the script works")
    args = parser.parse_args()
    cat_tune = cat_draws = 20 if args.quick else 500
    tune = draws = 200 if args.quick else 1000
    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]

    penguins, X = penguins_scaled()
    species = penguins["species"]
    start = em_initial_point(X)
    rows = []

    t0 = time.perf_counter()
    model = build_categorical_model(X)
    idata = sample_categorical(model, start, tune=cat_tune, draws=cat_draws, chains=1, random_seed=0)
    total = time.perf_counter() - t0
    sampling = idata.posterior.attrs["sampling_time"]
    cat_per_iteration = sampling / (cat_tune + cat_draws)
    rows.append(
        _row(
            "categorical: PyMC NUTS + CategoricalGibbsMetropolis, NUMBA mode",
            1,
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
        _row(
            "scikit-learn GaussianMixture (EM, n_init=10)",
            0,
            0,
            0,
            0.0,
            em_s,
            {"r_hat max": "n/a", "ESS bulk min": "n/a", "divergences": "n/a", **_accuracy(em_assign, species)},
        )
    )

    for row in rows:
        ms = row["ms / iteration"]
        row["× faster per iteration than categorical"] = (
            "n/a" if ms == "n/a" else f"{1e3 * cat_per_iteration / float(ms):.0f}×"
        )
    text = (
        "Every fit of the three-cluster model, timed in one run of `benchmarks/compare_samplers.py`"
        f"{' (--quick)' if args.quick else ''}.\n"
        "Compile s is model building and compilation (Numba caches make it shorter on a second run); "
        "sampling s is the sampler alone, tuning included; ms / iteration is sampling wall time per "
        "iteration of one chain (4 chains share 2 cores).\n\n"
        f"Machine: {machine()}\n\n{markdown_table(rows)}\n"
    )
    out = Path(__file__).with_name("results_quick.md" if args.quick else "results.md")
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
