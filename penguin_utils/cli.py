"""The ``penguin-utils`` command: fit the mixture model, assign new penguins, check a setup.

::

    penguin-utils fit --out fit.nc                        # sample the mixture model, save it
    penguin-utils assign fit.nc new.csv --out out.csv     # cluster probabilities, no re-sampling
    penguin-utils check                                   # is this machine ready for the workshop?

Each command imports what it needs inside its own function: ``assign`` has to answer in
about a second, so it never loads PyMC, PyTensor or ArviZ. A problem with the user's
input is printed as one line on standard error with a non-zero exit status, never as a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main"]

#: Exit status for bad input (argparse uses 2 for a malformed command line).
EXIT_BAD_INPUT = 1

#: Spellings of a missing value in a CSV; anything else that is not a number is "non-numeric".
_MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "-"})


class CommandError(Exception):
    """A problem the user can fix; printed as one line, without a traceback."""


# --------------------------------------------------------------------------- arguments


def _int_at_least(minimum: int):
    """An argparse type: a whole number no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``penguin-utils`` and its three commands."""
    parser = argparse.ArgumentParser(
        prog="penguin-utils",
        description="Gaussian mixture clusters of the Palmer penguins, from the command line.",
        epilog="Run 'penguin-utils COMMAND --help' for the options of a command.",
    )
    from penguin_utils import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="fit the mixture model to the penguins and save it",
        description=(
            "Fit the Gaussian mixture model to the Palmer penguins with nutpie, align the "
            "chains' cluster labels, print the convergence summary and save the posterior "
            "with its scaler to one NetCDF file, ready for 'penguin-utils assign'."
        ),
    )
    fit.add_argument("--clusters", type=_positive_int, default=3, metavar="K", help="number of clusters (default 3)")
    fit.add_argument(
        "--draws", type=_positive_int, default=1000, metavar="N", help="draws per chain after tuning (default 1000)"
    )
    fit.add_argument(
        "--tune",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="tuning steps per chain (default: as many as --draws)",
    )
    fit.add_argument("--chains", type=_positive_int, default=4, metavar="C", help="number of chains (default 4)")
    fit.add_argument("--seed", type=_non_negative_int, default=0, metavar="S", help="random seed (default 0)")
    fit.add_argument("--out", required=True, metavar="FIT.nc", help="where to save the fit")
    fit.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    fit.add_argument("--no-progress", action="store_true", help="do not show the sampler's progress bar")
    fit.set_defaults(run=_run_fit)

    assign = commands.add_parser(
        "assign",
        help="assign new penguins to the clusters of a saved fit",
        description=(
            "Read penguins' measurements (bill_length_mm, bill_depth_mm, flipper_length_mm, "
            "body_mass_g, in millimetres and grams) from a CSV file, scale them with the "
            "scaler saved in the fit and write, for each penguin, its probability of "
            "belonging to each cluster (p_cluster_K), the most probable cluster, its "
            "probability and the entropy of the probabilities (nats). Every other input "
            "column (an id, the island, ...) is copied through unchanged. Nothing is "
            "re-sampled. The input is read in chunks, so files of any length fit in memory. "
            "Problems are reported with the line numbers of the input file."
        ),
    )
    assign.add_argument("fit", metavar="FIT.nc", help="a fit saved by 'penguin-utils fit'")
    assign.add_argument("input", metavar="PENGUINS.csv", help="CSV with a header row, or '-' for standard input")
    assign.add_argument(
        "--out", default="-", metavar="ASSIGNED.csv", help="where to write the CSV (default: standard output)"
    )
    assign.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    assign.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=5000,
        metavar="N",
        help="penguins read and assigned at a time (default 5000)",
    )
    assign.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="J",
        help="processes assigning chunks in parallel (default: one per CPU core, at most 8)",
    )
    assign.set_defaults(run=_run_assign)

    check = commands.add_parser(
        "check",
        help="check this machine's setup and warm the compile caches",
        description=(
            "Print the versions, PyTensor backend and BLAS in use, check that the data load "
            "and the compile cache is writable, then compile and briefly sample both mixture "
            "models of the book so that the chapters start sampling in seconds. Exits "
            "non-zero, saying how to fix it, when something is wrong."
        ),
    )
    check.add_argument("--no-warm", action="store_true", help="skip compiling and sampling the models")
    check.set_defaults(run=_run_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``penguin-utils`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CommandError as err:
        print(f"penguin-utils {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"penguin-utils {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `penguin-utils assign ... | head`
        # Stop Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # a bug, not bad input: still one line, but say so
        print(
            f"penguin-utils {args.command}: unexpected error ({type(err).__name__}: {_one_line(err)}); "
            "please report it with the command you ran.",
            file=sys.stderr,
        )
        return 3


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _check_output(out: Path, force: bool, inputs: list[str]) -> None:
    """Refuse to overwrite an existing file without --force, or to overwrite an input."""
    if out.is_dir():
        raise CommandError(f"--out {out} is a folder; give a file name such as {out / 'result.csv'}.")
    for given in inputs:
        if given != "-" and Path(given).exists() and out.exists() and out.samefile(given):
            raise CommandError(f"--out {out} is also an input file; write the result to another file.")
    if out.exists() and not force:
        raise CommandError(f"{out} exists already; pass --force to overwrite it, or choose another --out.")
    if not out.parent.exists():
        raise CommandError(f"the folder {out.parent} of --out does not exist; create it first.")
    if not os.access(out.parent, os.W_OK):
        raise CommandError(f"cannot write to the folder {out.parent} of --out.")


# --------------------------------------------------------------------------- fit


def _run_fit(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    _check_output(out, args.force, [])
    import time
    import warnings

    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")

    import arviz as az
    import nutpie

    from penguin_utils.data import load_penguins
    from penguin_utils.io import save_fit
    from penguin_utils.models import build_mixture_model, em_initial_point
    from penguin_utils.relabel import align_chains
    from penguin_utils.sampling import compile_mixture
    from penguin_utils.scaling import fit_scaler

    penguins = load_penguins()
    scaler = fit_scaler(penguins)
    X = scaler.transform(penguins)
    if args.clusters > len(X):
        raise CommandError(f"--clusters {args.clusters} is more than the {len(X)} penguins.")
    tune = args.draws if args.tune is None else args.tune

    # The steps of fit_mixture, spelled out so that nutpie can show its progress bar.
    start = time.perf_counter()
    print(f"Compiling the {args.clusters}-cluster mixture model for {len(X)} penguins ...", flush=True)
    model = build_mixture_model(X, args.clusters)
    compiled = compile_mixture(model, em_initial_point(X, args.clusters, random_seed=args.seed))
    compiled_at = time.perf_counter()
    print(f"Sampling {args.chains} chains x ({tune} tuning + {args.draws}) draws ...", flush=True)
    idata = nutpie.sample(
        compiled,
        draws=args.draws,
        tune=tune,
        chains=args.chains,
        cores=min(args.chains, os.cpu_count() or 1),
        seed=args.seed,
        progress_bar=not args.no_progress,
    )
    idata = align_chains(idata)
    sampled_at = time.perf_counter()

    summary = az.summary(idata, var_names=["w", "mu"], round_to=3)
    ess = ["ess_bulk", "ess_tail"]
    summary[ess] = summary[ess].round().astype(int)
    print()
    print(summary[["mean", "sd", "hdi_3%", "hdi_97%", *ess, "r_hat"]].to_string())
    n_div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    max_rhat = float(summary["r_hat"].max())
    min_ess = float(summary["ess_bulk"].min())
    print()
    print(f"compile {compiled_at - start:.1f} s, sampling {sampled_at - compiled_at:.1f} s")
    print(f"max r_hat {max_rhat:.3f}  (want <= 1.01)")
    print(f"min bulk ESS {min_ess:.0f}  (want >= {100 * args.chains})")
    print(f"divergences {n_div}  (want 0)")
    converged = max_rhat <= 1.01 and min_ess >= 100 * args.chains and n_div == 0
    if not converged:
        print(
            "warning: the chains have not converged by these rules of thumb; try more --draws, or fewer --clusters.",
            file=sys.stderr,
        )
    save_fit(out, idata, scaler, overwrite=args.force)
    print(f"Saved the fit and its scaler to {out}")
    return 0


# --------------------------------------------------------------------------- assign


def _read_fit(path: Path):
    """The posterior (an xarray Dataset: no ArviZ import) and the scaler saved by ``fit``."""
    if not path.exists():
        raise CommandError(f"no fit file at {path}; make one with 'penguin-utils fit --out {path}'.")
    from penguin_utils.io import read_fit

    try:
        return read_fit(path)
    except Exception as err:  # not ours, damaged, truncated, another format version: one line each
        raise CommandError(
            f"cannot use {path} as a fit: {_one_line(err)} Make a new one with 'penguin-utils fit --out FIT.nc'."
        ) from None


def _csv_chunks(source: str, chunk_rows: int):
    """Yield the input in chunks of strings, indexed by their line number in the file."""
    import pandas as pd

    handle = sys.stdin if source == "-" else source
    try:
        reader = pd.read_csv(
            handle,
            chunksize=chunk_rows,
            dtype=str,  # identifiers pass through verbatim ("007" stays "007")
            keep_default_na=False,
            na_filter=False,
        )
        first_line = 2  # line 1 holds the column names
        for chunk in reader:
            chunk.index = pd.RangeIndex(first_line, first_line + len(chunk), name="line")
            first_line += len(chunk)
            yield chunk
    except pd.errors.EmptyDataError:
        raise CommandError(f"{_name(source)} is empty; it needs a header row and one row per penguin.") from None
    except pd.errors.ParserError as err:
        raise CommandError(f"{_name(source)} is not a well-formed CSV file: {_one_line(err)}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{_name(source)} is not a text CSV file (it is not valid UTF-8).") from None
    except FileNotFoundError:
        raise CommandError(f"no such file: {source}") from None
    except IsADirectoryError:
        raise CommandError(f"{source} is a folder, not a CSV file.") from None


def _name(source: str) -> str:
    return "standard input" if source == "-" else source


def _lines(index) -> str:
    lines = [str(i) for i in index[:10]]
    more = f" and {len(index) - 10} more" if len(index) > 10 else ""
    return ", ".join(lines) + more


def _measurements(chunk, features, source: str):
    """The feature columns of a chunk as floats, or a one-line error naming the lines."""
    import numpy as np
    import pandas as pd

    columns = {}
    problems = []
    for feature in features:
        text = chunk[feature].str.strip()
        values = pd.to_numeric(text, errors="coerce")
        missing = text.str.lower().isin(_MISSING_TOKENS)
        if missing.any():
            problems.append(f"{feature} is missing on line(s) {_lines(chunk.index[missing.to_numpy()])}")
        bad = (~missing & ~np.isfinite(values)).to_numpy()
        if bad.any():
            examples = ", ".join(repr(v) for v in text[bad].unique()[:3])
            problems.append(f"{feature} is not a number on line(s) {_lines(chunk.index[bad])} ({examples})")
        columns[feature] = values.to_numpy(dtype=float)
    if problems:
        raise CommandError(
            f"{_name(source)}: " + "; ".join(problems) + ". Every penguin needs all four measurements "
            "as numbers; fix or remove those lines."
        )
    return pd.DataFrame(columns, index=chunk.index)


class _Assigner:
    """Turns one chunk of the input into CSV text; runs in the main process or in a forked worker."""

    def __init__(self, idata, scaler, ids: list[str], source: str):
        self.idata, self.scaler, self.ids, self.source = idata, scaler, ids, source

    def __call__(self, chunk, header: bool) -> str:
        from penguin_utils.assign import assign_clusters

        values = _measurements(chunk, list(self.scaler.features), self.source)
        try:
            result = assign_clusters(self.idata, self.scaler.transform(values))
        except ValueError as err:
            raise CommandError(f"{_name(self.source)}: {_one_line(err)} (rows are line numbers of the input)") from None
        result.columns = [f"p_cluster_{c}" for c in result.columns[:-3]] + list(result.columns[-3:])
        result.index = chunk.index
        return chunk[self.ids].join(result).to_csv(header=header, index=False)


# The forked workers find the assigner here: set before the pool forks, so nothing is pickled
# but the chunks and the CSV text.
_ASSIGNER: _Assigner | None = None


def _assign_in_worker(chunk, header: bool) -> str:
    return _ASSIGNER(chunk, header)


def _default_jobs() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _chunk_results(assigner: _Assigner, chunks, first, jobs: int):
    """Yield ``(csv_text, n_rows)`` for ``first`` and then every chunk, in order, using ``jobs`` processes."""
    import multiprocessing

    # Forked workers start in milliseconds with the fit already loaded; where fork is not
    # the safe default (macOS, Windows) the chunks are assigned one after the other.
    if jobs == 1 or sys.platform != "linux":
        yield assigner(first, True), len(first)
        for chunk in chunks:
            yield assigner(chunk, False), len(chunk)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    global _ASSIGNER
    _ASSIGNER = assigner
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        pending = deque([(pool.submit(_assign_in_worker, first, True), len(first))])
        try:
            for chunk in chunks:
                pending.append((pool.submit(_assign_in_worker, chunk, False), len(chunk)))
                while len(pending) > 2 * jobs:  # bounded read-ahead: memory stays flat
                    future, n = pending.popleft()
                    yield future.result(), n
            while pending:
                future, n = pending.popleft()
                yield future.result(), n
        finally:
            for future, _ in pending:
                future.cancel()


def _run_assign(args: argparse.Namespace) -> int:
    out = None if args.out == "-" else Path(args.out).expanduser()
    if args.input != "-" and not Path(args.input).exists():
        raise CommandError(f"no such file: {args.input}")
    if out is not None:
        _check_output(out, args.force, [args.fit, args.input])
    idata, scaler = _read_fit(Path(args.fit).expanduser())
    features = list(scaler.features)

    chunks = _csv_chunks(args.input, args.chunk_rows)
    first = next(chunks, None)
    if first is None:
        raise CommandError(f"{_name(args.input)} has a header but no penguins.")
    ids = _check_columns(first, features, args.input)
    if first.empty:
        raise CommandError(f"{_name(args.input)} has a header but no penguins.")
    assigner = _Assigner(idata, scaler, ids, args.input)

    tmp = None
    if out is None:
        sink = sys.stdout
    else:  # write beside the target and rename at the end: no half-written output on failure
        tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
        sink = open(tmp, "w", newline="")
    n_rows = 0
    try:
        for text, n in _chunk_results(assigner, chunks, first, args.jobs or _default_jobs()):
            sink.write(text)
            n_rows += n
        if tmp is not None:
            sink.close()
            os.replace(tmp, out)
            tmp = None
            print(f"Assigned {n_rows} penguins; wrote {out}", file=sys.stderr)
    finally:
        if tmp is not None:
            sink.close()
            tmp.unlink(missing_ok=True)
    return 0


_OUTPUT_COLUMNS = ("cluster", "probability", "entropy")


def _check_columns(chunk, features, source: str) -> list[str]:
    """Return the identifying (non-feature) columns after checking the header."""
    missing = [f for f in features if f not in chunk.columns]
    if missing:
        raise CommandError(
            f"{_name(source)} is missing the column(s) {', '.join(missing)}; it needs "
            f"{', '.join(features)} (millimetres and grams), found {', '.join(map(str, chunk.columns))}."
        )
    ids = [c for c in chunk.columns if c not in features]
    clash = [c for c in ids if c in _OUTPUT_COLUMNS or str(c).startswith("p_cluster_")]
    if clash:
        raise CommandError(
            f"{_name(source)} already has the column(s) {', '.join(clash)}, which the output adds; rename them."
        )
    return ids


# --------------------------------------------------------------------------- check


def _run_check(args: argparse.Namespace) -> int:
    from penguin_utils.check import run_check

    return run_check(warm=not args.no_warm)


if __name__ == "__main__":
    sys.exit(main())
