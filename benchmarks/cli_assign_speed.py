"""How fast ``penguin-utils assign`` is as a whole process, and how much memory it needs.

Times the command the way a user runs it (a new process: Python start-up, imports,
reading the fit, reading the CSV, assigning, writing the CSV) on 10 000 penguins (one
partition: pandas alone, no Dask, one row range per thread), and 1 000 000 penguins as CSV
and as Parquet (Dask partitions assigned by one thread per core, in one process) to measure
rows per second, the peak resident memory of the whole process tree and its CPU time (user +
system, which a busy machine disturbs less than the wall-clock time).
The fit is the CLI's default, 4 chains x 1000 draws, made with ``penguin-utils fit``
unless ``--fit`` names one. The new penguins are the real ones resampled with a little
noise (seeded), with an id column carried through.

Run: ``.venv/bin/python benchmarks/cli_assign_speed.py`` (writes benchmarks/cli_assign_results.md).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import machine, markdown_table

HERE = Path(__file__).resolve().parent
SCRIPT = Path(sys.executable).with_name("penguin-utils")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "penguin_utils"]


def new_penguins(n: int, path: Path, seed: int = 0) -> Path:
    """``n`` penguins resampled from the real ones, each measurement jittered by 1 % of its spread."""
    from penguin_utils.data import FEATURES, load_penguins

    penguins = load_penguins()
    rng = np.random.default_rng(seed)
    rows = penguins.iloc[rng.integers(len(penguins), size=n)].reset_index(drop=True)
    features = rows[list(FEATURES)]
    rows[list(FEATURES)] = (
        features + rng.normal(0, 0.01, features.shape) * penguins[list(FEATURES)].std().to_numpy()
    ).round(1)
    table = rows[["species", "island", "sex", *FEATURES]]
    table.insert(0, "id", [f"N{i:07d}" for i in range(n)])
    table.to_csv(path, index=False)
    return path


def timed(args: list[str]) -> tuple[float, float, float]:
    """Wall-clock seconds, peak resident memory (MiB) and CPU seconds of one run of the command.

    The memory is the largest sum of resident memory over the command's whole process tree
    (any child processes included), sampled every 20 ms; the CPU time is user + system of the
    command and every child it waited for.
    """
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = psutil.Popen([*COMMAND, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:  # a worker ended between listing and reading it
            pass
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"penguin-utils {' '.join(args)} failed: {stderr}")
    return elapsed, peak / 2**20, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", type=Path, help="a fit from `penguin-utils fit` (default: make one, 4 x 1000 draws)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="penguins in the streaming run")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the 10 000-penguin case")
    args = parser.parse_args()

    load_before = os.getloadavg()  # other jobs on the machine slow every row; say how busy it was
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fit = args.fit
        if fit is None:
            fit = tmp / "fit.nc"
            subprocess.run([*COMMAND, "fit", "--out", fit, "--no-progress"], check=True, stdout=subprocess.DEVNULL)
        from penguin_utils.io import read_fit

        posterior, _ = read_fit(fit)
        n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]

        rows = []
        small = new_penguins(10_000, tmp / "new_10k.csv")
        times, peaks, cpus = [], [], []
        for _ in range(args.repeats):
            seconds, peak, cpu = timed(["assign", str(fit), str(small), "--out", str(tmp / "out.csv"), "--force"])
            times.append(seconds)
            peaks.append(peak)
            cpus.append(cpu)
        rows.append(
            {
                "penguins": "10 000",
                "draws": n_draws,
                "whole process (s)": f"{np.median(times):.2f} (median of {args.repeats}; min {min(times):.2f})",
                "penguins / s": f"{10_000 / np.median(times):,.0f}",
                "peak memory (MiB)": f"{max(peaks):.0f}",
                "CPU, user + system (s)": f"{np.median(cpus):.2f}",
            }
        )
        startup, _, startup_cpu = timed(
            ["assign", str(fit), str(new_penguins(1, tmp / "one.csv")), "--out", str(tmp / "o1.csv")]
        )
        rows.append(
            {
                "penguins": "1",
                "draws": n_draws,
                "whole process (s)": f"{startup:.2f}",
                "penguins / s": "start-up and reading the fit",
                "peak memory (MiB)": "",
                "CPU, user + system (s)": f"{startup_cpu:.2f}",
            }
        )
        big = new_penguins(args.rows, tmp / "new_big.csv", seed=1)
        import pandas as pd

        pd.read_csv(big, dtype={"id": str}).to_parquet(tmp / "new_big.parquet", index=False)
        for source, out in [("new_big.csv", "out_big.csv"), ("new_big.parquet", "out_big.parquet")]:
            seconds, peak, cpu = timed(["assign", str(fit), str(tmp / source), "--out", str(tmp / out)])
            rows.append(
                {
                    "penguins": f"{args.rows:,}".replace(",", " ") + f" ({Path(source).suffix[1:]})",
                    "draws": n_draws,
                    "whole process (s)": f"{seconds:.1f}",
                    "penguins / s": f"{args.rows / seconds:,.0f}",
                    "peak memory (MiB)": f"{peak:.0f}",
                    "CPU, user + system (s)": f"{cpu:.1f}",
                }
            )

    table = markdown_table(rows)
    text = (
        "`penguin-utils assign` as a whole process (start-up, imports, reading the fit and the table, "
        "assigning, writing the result), from `benchmarks/cli_assign_speed.py`. The 10 000 penguins "
        "are one partition, assigned with pandas alone in one row range per thread; the million are Dask "
        "partitions of at most 4 MB (as many as a multiple of the threads) assigned by one thread per core "
        "in one process. Peak memory and CPU time (user + system) are the whole process tree's.\n"
        f"Machine: {machine()}; load average {load_before[0]:.2f} before the runs, {os.getloadavg()[0]:.2f} "
        "after (1-minute averages: they count these runs and whatever else ran on the machine).\n\n"
        f"{table}\n"
    )
    print(text)
    (HERE / "cli_assign_results.md").write_text(text)


if __name__ == "__main__":
    main()
