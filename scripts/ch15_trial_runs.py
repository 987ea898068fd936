"""Repeat the trial runs that chapter 15 describes but does not show.

The chapter samples its sparse K = 10 mixture with 300 tuning steps, four chains, seed 1,
from the K = 3 EM solution plus seven spare components. Its section on convergence reports
what longer runs of the same model did: with 1000 tuning steps and seeds 1 to 4, and from
EM's four-cluster solution. This script makes those runs and prints, per run, the label-free
diagnostics the chapter uses and, per chain, the share of draws with three sizeable
clusters, the share with the Gentoos over two sizeable clusters, and the mean total
log-likelihood; for a chain that split the Gentoos, the sex of the Gentoos in each of its
clusters.

Usage: ``python scripts/ch15_trial_runs.py`` (about a minute per run on two cores once the
compile cache is warm). Which chains find the second mode can differ between machines:
Numba compiles for the host CPU.
"""

from __future__ import annotations

import pandas as pd

from penguin_utils.assign import draw_probabilities, mixture_log_likelihood
from penguin_utils.book import setup_chapter
from penguin_utils.models import build_mixture_model, sparse_initial_point
from penguin_utils.occupancy import (
    chain_co_clustering_gap,
    cluster_sizes,
    label_free_diagnostics,
    occupied_clusters,
)
from penguin_utils.sampling import compile_mixture, sample_mixture
from penguin_utils.uncertainty import sample_labels

N_CLUSTERS = 10
RUNS = [("K = 3 start", 3, seed) for seed in (1, 2, 3, 4)] + [("K = 4 start", 4, 1)]


def main() -> None:
    penguins, _, X = setup_chapter()
    species, sex = penguins["species"], penguins["sex"]
    gentoos = X.index[species == "Gentoo"].to_numpy()
    model = build_mixture_model(X, N_CLUSTERS, priors={"dirichlet_alpha": 0.1, "sd_prior": "gamma"})
    starts = {n_em: sparse_initial_point(X, N_CLUSTERS, n_em, random_seed=1) for _, n_em, _ in RUNS}
    compiled = {n_em: compile_mixture(model, start) for n_em, start in starts.items()}
    for name, n_em, seed in RUNS:
        idata = sample_mixture(compiled[n_em], tune=1000, draws=300, random_seed=seed)
        probs = draw_probabilities(idata, X)
        labels = sample_labels(probs, random_seed=2)
        clusters = probs["cluster"].values
        sizeable = occupied_clusters(labels, clusters, min_size=5)
        loglik = mixture_log_likelihood(idata, X).sum("penguin")
        diagnostics = label_free_diagnostics({"sizeable clusters": sizeable, "total log-likelihood": loglik})
        split = (cluster_sizes(labels.sel(penguin=gentoos), clusters) >= 5).sum("cluster") >= 2
        print(f"\n{name}, 1000 tuning steps, seed {seed}")
        print(diagnostics[["r_hat", "ess_bulk"]].round(3).to_string())
        print(f"largest co-clustering gap between chains: {float(chain_co_clustering_gap(probs).to_numpy().max()):.2f}")
        per_chain = pd.DataFrame(
            {
                "three sizeable": (sizeable == 3).mean("draw").to_numpy(),
                "Gentoos split": split.mean("draw").to_numpy(),
                "total log-likelihood": loglik.mean("draw").to_numpy(),
            },
            index=pd.Index(idata.posterior["chain"].to_numpy(), name="chain"),
        )
        print(per_chain.round(2).to_string())
        for chain in per_chain.index[per_chain["Gentoos split"] > 0.5]:
            most_probable = probs.sel(chain=chain, penguin=gentoos).mean("draw").argmax("cluster").to_numpy()
            table = pd.crosstab(sex.loc[gentoos].fillna("unknown").to_numpy(), most_probable)
            print(f"chain {chain}: Gentoos by sex (rows) and most probable cluster (columns)\n{table}")


if __name__ == "__main__":
    main()
