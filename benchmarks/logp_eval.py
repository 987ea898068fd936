"""Micro-benchmark: the cost of one log-density + gradient evaluation of the mixture model.

Times the two likelihood formulations of ``build_mixture_model`` (PyMC's own
``pm.Mixture`` logp, and the fused operation) on three paths:

* ``C backend``: PyTensor's default mode, called from Python (pip's PyTensor has no BLAS);
* ``NUMBA mode``: PyTensor's Numba backend, called from Python;
* ``Numba, no Python``: the same compiled function called in a Numba loop, which is
  what nutpie's sampler sees.

OpenBLAS is held to one thread, as ``sampling.sample_mixture`` holds it: pm.Mixture's
Cholesky factors are 4 x 4, and OpenBLAS's own threads only spin against each other.

Run: ``.venv/bin/python benchmarks/logp_eval.py`` (writes benchmarks/logp_results.csv, read by
chapter 12, and benchmarks/logp_results.md).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import pandas as pd
from pymc.blocking import DictToArrayBijection
from threadpoolctl import threadpool_limits

from penguin_utils.models import build_mixture_model, em_initial_point

from _common import machine, markdown_table, penguins_scaled

warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")


def _best_of(fn, repeats: int, rounds: int = 5) -> float:
    """Smallest mean time per call over ``rounds`` rounds, in microseconds."""
    fn()
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best * 1e6


@numba.njit
def _loop(jit_fn, x, n):
    total = 0.0
    for _ in range(n):
        logp, grad = jit_fn(x)
        total += logp.item() + grad[0]
    return total


def time_model(model, start) -> dict:
    x0 = DictToArrayBijection.map(start).data
    out = {}
    for label, mode in [("C backend, µs", "FAST_RUN"), ("NUMBA mode, µs", "NUMBA")]:
        f = model.logp_dlogp_function(mode=mode, ravel_inputs=True)
        f.set_extra_values({})
        out[label] = _best_of(lambda f=f: f(x0), repeats=500)
    jit_fn = f._pytensor_function.vm.jit_fn
    n = 5000
    _loop(jit_fn, x0, 10)
    out["Numba, no Python, µs"] = _best_of(lambda: _loop(jit_fn, x0, n), repeats=1) / n
    return out


def main() -> None:
    _, X = penguins_scaled()
    load_before = os.getloadavg()[0]
    rows = []
    for label, fused in [
        ("pm.Mixture of 3 MvNormal (the post's model)", False),
        ("fused mixture logp (this book)", True),
    ]:
        model = build_mixture_model(X, fused_logp=fused)
        start = model.initial_point()
        start.update({k: v for k, v in _transformed(model, em_initial_point(X)).items()})
        with threadpool_limits(1, user_api="blas"):
            times = time_model(model, start)
        rows.append({"likelihood": label, **times})
        print(rows[-1], flush=True)
    load_after = os.getloadavg()[0]
    results = pd.DataFrame(rows).assign(
        machine=machine(), date=time.strftime("%Y-%m-%d"), load_before=load_before, load_after=load_after
    )
    results.to_csv(Path(__file__).with_name("logp_results.csv"), index=False)
    shown = [
        {"likelihood": r["likelihood"], **{k: f"{v:.0f}" for k, v in r.items() if k != "likelihood"}} for r in rows
    ]
    text = (
        f"One log-density + gradient evaluation of the 3-cluster mixture on 342 penguins "
        f"(best of 5 rounds, OpenBLAS held to one thread).\n\nMachine: {machine()}; "
        f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after\n\n{markdown_table(shown)}\n"
    )
    Path(__file__).with_name("logp_results.md").write_text(text)
    print(text)


def _transformed(model, point):
    from pymc.initial_point import make_initial_point_fn

    return make_initial_point_fn(model=model, overrides=point, jitter_rvs=set(), return_transformed=True)(0)


if __name__ == "__main__":
    main()
