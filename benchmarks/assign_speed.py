"""How long assignment takes for a full posterior: 4 chains × 1000 draws, 342 penguins, 3 clusters.

Compares ``cluster_probabilities`` (compiled loops over all chains and draws, the density
shared with the sampler), ``draw_probabilities`` (the same, keeping every draw), the
NumPy einsum version it replaced, and the loop over draws of the original post, written
here with SciPy's ``multivariate_normal`` and with the corrections the book makes
(weights included, normalised per penguin), so that all compute the same numbers. Also
times the kernels' hand-written ``exp`` against ``math.exp`` (which Numba cannot vectorise
without Intel's SVML) on the exponentials ``cluster_probabilities`` computes: the figure
that says whether the hand-written one earns its keep.
Run: ``.venv/bin/python benchmarks/assign_speed.py``
(writes benchmarks/assign_results.md).
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from penguin_utils._kernels import _FASTMATH, _exp_nonpositive
from penguin_utils.assign import cluster_probabilities, component_logp, draw_probabilities
from penguin_utils.io import save_fit
from penguin_utils.scaling import fit_scaler

from _common import best_of, machine, markdown_table, penguins_scaled, random_posterior


def draw_loop(idata, X) -> np.ndarray:
    post = idata.posterior
    w, mu, chol = post["w"].values, post["mu"].values, post["chol"].values
    total = np.zeros((len(X), w.shape[-1]))
    for c in range(w.shape[0]):
        for s in range(w.shape[1]):
            lp = np.stack(
                [
                    np.log(w[c, s, k]) + multivariate_normal(mu[c, s, k], chol[c, s, k] @ chol[c, s, k].T).logpdf(X)
                    for k in range(w.shape[-1])
                ],
                axis=1,
            )
            total += np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
    return total / (w.shape[0] * w.shape[1])


def einsum_version(idata, X: np.ndarray) -> np.ndarray:
    """The NumPy implementation used before the shared kernel (whitening with L^{-1})."""
    post = idata.posterior
    w, mu, chol = post["w"].values, post["mu"].values, post["chol"].values
    n_chain, n_draw, n_cluster, n_feature = mu.shape
    chol_inv = np.linalg.inv(chol)
    white_x = (chol_inv.reshape(-1, n_feature) @ X.T).reshape(n_chain, n_draw, n_cluster, n_feature, -1)
    white_x -= np.einsum("cskij,cskj->cski", chol_inv, mu)[..., None]
    mahalanobis = np.square(white_x, out=white_x).sum(axis=3)
    log_det = np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    logp = (np.log(w) - log_det - 0.5 * n_feature * np.log(2 * np.pi))[..., None] - 0.5 * mahalanobis
    per_draw = logp - logp.max(axis=2, keepdims=True)
    np.exp(per_draw, out=per_draw)
    per_draw /= per_draw.sum(axis=2, keepdims=True)
    return per_draw.mean(axis=(0, 1)).T


@numba.njit(cache=True, fastmath=_FASTMATH)
def _hand_exp(shifted):
    out = np.empty_like(shifted[0])
    scratch = np.empty(out.shape[1])
    for s in range(shifted.shape[0]):
        out[:] = shifted[s]
        for k in range(out.shape[0]):
            _exp_nonpositive(out[k], scratch)
    return out


@numba.njit(cache=True, fastmath=_FASTMATH)
def _libm_exp(shifted):
    out = np.empty_like(shifted[0])
    for s in range(shifted.shape[0]):
        out[:] = shifted[s]
        for k in range(out.shape[0]):
            row = out[k]
            for i in range(row.shape[0]):
                row[i] = math.exp(row[i])
    return out


def exp_seconds(idata, X) -> tuple[float, float]:
    """The exponentials of one cluster_probabilities call (draw × cluster × penguin), hand-written and libm."""
    q = component_logp(idata, X).values
    shifted = q - q.max(axis=-1, keepdims=True)  # what the kernel exponentiates: <= 0
    shifted = np.ascontiguousarray(np.moveaxis(shifted.reshape(-1, *q.shape[2:]), -1, 1))  # (S, K, N)
    np.testing.assert_allclose(_hand_exp(shifted), _libm_exp(shifted), rtol=2.3e-16, atol=0)  # and compiles both
    return best_of(lambda: _hand_exp(shifted), rounds=7), best_of(lambda: _libm_exp(shifted), rounds=7)


_CLI_PATH = """
import sys, pandas as pd
from penguin_utils.assign import assign_clusters
from penguin_utils.io import read_fit
posterior, scaler = read_fit(sys.argv[1])
assign_clusters(posterior, scaler.transform(pd.read_pickle(sys.argv[2])))
"""


def process_seconds(args: list[str], rounds: int) -> float:
    """Best wall time of a whole Python process, start-up and imports included."""
    return best_of(lambda: subprocess.run([sys.executable, *args], check=True), rounds)


def cli_path(idata, penguins, scaler) -> tuple[float, float]:
    """Import time of the command-line path, and read_fit -> transform -> assign for 10 000 penguins."""
    with tempfile.TemporaryDirectory() as folder:
        fit = save_fit(Path(folder) / "fit.nc", idata, scaler)
        new = Path(folder) / "new.pkl"
        penguins.sample(10_000, replace=True, random_state=0).reset_index(drop=True).to_pickle(new)
        process_seconds(["-c", _CLI_PATH, str(fit), str(new)], rounds=1)  # fills Numba's cache
        imports = process_seconds(
            ["-c", "from penguin_utils.assign import assign_clusters; from penguin_utils.io import read_fit"], 5
        )
        return imports, process_seconds(["-c", _CLI_PATH, str(fit), str(new)], rounds=3)


def main() -> None:
    penguins, X = penguins_scaled()
    idata = random_posterior(n_chain=4, n_draw=1000, seed=0)
    values = X.to_numpy()
    cluster_probabilities(idata, X)  # load the compiled kernels from Numba's cache first
    draw_probabilities(idata, X)
    kernel = best_of(lambda: cluster_probabilities(idata, X), rounds=7)
    per_draw = best_of(lambda: draw_probabilities(idata, X), rounds=7)
    einsum = best_of(lambda: einsum_version(idata, values), rounds=7)
    looped = best_of(lambda: draw_loop(idata, values), rounds=1)
    hand_exp, libm_exp = exp_seconds(idata, X)
    expected = draw_loop(idata, values)
    np.testing.assert_allclose(cluster_probabilities(idata, X).to_numpy(), expected, atol=1e-10)
    np.testing.assert_allclose(einsum_version(idata, values), expected, atol=1e-10)
    np.testing.assert_allclose(draw_probabilities(idata, X).mean(("chain", "draw")).values, expected, atol=1e-10)
    rows = [
        {"method": "cluster_probabilities (shared Numba kernel, mean only)", "seconds": f"{kernel:.3f}"},
        {"method": "draw_probabilities (same kernel, every draw kept)", "seconds": f"{per_draw:.3f}"},
        {"method": "NumPy einsum over all draws (the previous version)", "seconds": f"{einsum:.3f}"},
        {"method": "loop over draws with scipy.stats", "seconds": f"{looped:.2f}"},
        {"method": "its 4000 × 3 × 342 exponentials, hand-written exp (vectorised)", "seconds": f"{hand_exp:.4f}"},
        {"method": "the same exponentials with math.exp", "seconds": f"{libm_exp:.4f}"},
    ]
    text = (
        "Cluster probabilities for 342 penguins from 4 chains × 1000 draws × 3 clusters "
        f"(best of 7 rounds; the loop once). Same numbers to 1e-10; the kernel is "
        f"{einsum / kernel:.1f} times faster than the einsum version and {looped / kernel:.0f} times faster "
        f"than the loop. The hand-written exp takes {hand_exp:.4f} s of the kernel's {kernel:.3f} s; "
        f"math.exp would take {libm_exp:.4f} s, making cluster_probabilities about "
        f"{(kernel - hand_exp + libm_exp) / kernel:.2f} times as slow.\n\nMachine: {machine()}\n\n"
        f"{markdown_table(rows)}\n"
    )
    imports, whole = cli_path(idata, penguins, fit_scaler(penguins))
    text += (
        "\nThe command-line path, each a whole Python process (best of 5 and 3): importing "
        f"`penguin_utils.assign` and `penguin_utils.io` takes {imports:.2f} s (no PyMC, PyTensor, ArviZ "
        f"or scikit-learn); `read_fit` → `scaler.transform` → `assign_clusters` for 10 000 penguins "
        f"and the same 4 × 1000 draws takes {whole:.2f} s.\n"
    )
    Path(__file__).with_name("assign_results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
