"""Shared set-up for the benchmark scripts: the data, and a description of the machine."""

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
