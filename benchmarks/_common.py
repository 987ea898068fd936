"""Shared set-up for the benchmark scripts: the data, a posterior to time, and the machine.

Nothing here imports from ``tests/``: the benchmarks run on their own.
"""

from __future__ import annotations

import os
import platform
import time
from importlib.metadata import version


def penguins_scaled():
    from penguin_utils.data import load_penguins
    from penguin_utils.scaling import fit_scaler

    penguins = load_penguins()
    return penguins, fit_scaler(penguins).transform(penguins)


def random_posterior(n_chain: int = 4, n_draw: int = 1000, n_cluster: int = 3, seed: int = 0):
    """An InferenceData with random ``w``, ``mu`` and ``chol`` laid out as the models make them."""
    import arviz as az
    import numpy as np
    import xarray as xr

    from penguin_utils.data import FEATURES

    rng = np.random.default_rng(seed)
    n_feature = len(FEATURES)
    w = rng.dirichlet(np.ones(n_cluster), size=(n_chain, n_draw))
    mu = rng.normal(0, 1, size=(n_chain, n_draw, n_cluster, n_feature))
    chol = np.tril(rng.normal(0, 0.3, size=(n_chain, n_draw, n_cluster, n_feature, n_feature)))
    diag = np.arange(n_feature)
    chol[..., diag, diag] = rng.uniform(0.3, 1.2, size=(n_chain, n_draw, n_cluster, n_feature))
    posterior = xr.Dataset(
        {
            "w": (("chain", "draw", "cluster"), w),
            "mu": (("chain", "draw", "cluster", "feature"), mu),
            "chol": (("chain", "draw", "cluster", "feature", "feature_"), chol),
        },
        coords={"cluster": np.arange(n_cluster), "feature": list(FEATURES), "feature_": list(FEATURES)},
    )
    return az.InferenceData(posterior=posterior)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    packages = ", ".join(f"{p} {version(p)}" for p in ["pymc", "pytensor", "nutpie", "numba", "scikit-learn"])
    return f"{time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {packages}"


def markdown_table(rows: list[dict]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    return "\n".join(lines)


def best_of(fn, rounds: int) -> float:
    """Smallest wall time of ``rounds`` calls of ``fn()``, in seconds."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
