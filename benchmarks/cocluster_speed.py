"""How long the co-clustering matrix takes: 342 penguins, 4 chains × 1000 draws, 3 clusters.

Definition: ``P(z_i = z_j) = mean over draws of sum_k p_ik p_jk`` (exact given each draw's
parameters; 1 on the diagonal).  ``co_clustering`` computes it as one matrix product of the
per-draw probabilities, reshaped to (penguin, draw × cluster), with its transpose.  Compared
with a loop over draws (one 342 × 342 product per draw), which gives the same numbers.
Run under the shared lock: ``.venv/bin/python benchmarks/cocluster_speed.py``
(writes benchmarks/cocluster_results.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from penguin_utils.assign import draw_probabilities
from penguin_utils.uncertainty import co_clustering, one_hot, sample_labels

from _common import best_of, machine, markdown_table, penguins_scaled, random_posterior


def draw_loop(p: np.ndarray) -> np.ndarray:
    n_chain, n_draw, n_penguin, _ = p.shape
    total = np.zeros((n_penguin, n_penguin))
    for c in range(n_chain):
        for s in range(n_draw):
            total += p[c, s] @ p[c, s].T
    total /= n_chain * n_draw
    np.fill_diagonal(total, 1.0)
    return total


def main() -> None:
    _, X = penguins_scaled()
    idata = random_posterior(n_chain=4, n_draw=1000, seed=0)
    probs = draw_probabilities(idata, X)
    labels = one_hot(sample_labels(probs, random_seed=0), probs["cluster"].values)
    matmul = best_of(lambda: co_clustering(probs), rounds=5)
    from_labels = best_of(lambda: co_clustering(labels), rounds=5)
    end_to_end = best_of(lambda: co_clustering(draw_probabilities(idata, X)), rounds=5)
    looped = best_of(lambda: draw_loop(probs.values), rounds=1)
    np.testing.assert_allclose(co_clustering(probs).to_numpy(), draw_loop(probs.values), atol=1e-10)
    rows = [
        {"method": "co_clustering(per-draw probabilities), one matmul", "seconds": f"{matmul:.3f}"},
        {"method": "co_clustering(one-hot sampled labels), one matmul", "seconds": f"{from_labels:.3f}"},
        {"method": "draw_probabilities + co_clustering, from the posterior", "seconds": f"{end_to_end:.3f}"},
        {"method": "loop over draws, one product per draw", "seconds": f"{looped:.3f}"},
    ]
    text = (
        "Co-clustering matrix, P(z_i = z_j) = mean over draws of sum_k p_ik p_jk, for 342 penguins from "
        "4 chains × 1000 draws × 3 clusters (best of 5 rounds; the loop once). Same numbers to 1e-10. "
        "Target: at most 1 s.\n\n"
        f"Machine: {machine()}\n\n{markdown_table(rows)}\n"
    )
    Path(__file__).with_name("cocluster_results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
