"""The penguin-utils command: fit the mixture model, assign new penguins, check a setup, precompile the book.

Parsing and dispatch only: fitting is :func:`penguin_utils.sampling.fit_mixture` and
:func:`~penguin_utils.sampling.convergence_summary`, assigning :mod:`penguin_utils.streaming`,
writing :func:`penguin_utils.io.atomic_write`. Each command imports what it needs when it runs,
so ``assign`` never loads PyMC, PyTensor or ArviZ. A problem with the user's input is one line on
standard error and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

__all__ = ["main"]


class CommandError(Exception):
    """A problem the user can fix; printed as one line, without a traceback."""


def _int_at_least(minimum: int):
    """An argparse type: a whole number no smaller than ``minimum``."""

    def whole_number(text: str) -> int:
        value = int(text)  # argparse reports a ValueError as "invalid whole_number value: 'x'"
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return whole_number


def _mapping(text: str) -> dict[str, str]:
    """An argparse type: ``FEATURE=NAME[,FEATURE=NAME...]``."""
    pairs = [item.split("=", 1) for item in text.split(",")]
    if any(len(pair) != 2 or not all(part.strip() for part in pair) for pair in pairs):
        raise argparse.ArgumentTypeError(f"expected FEATURE=NAME pairs separated by commas, got {text!r}")
    return {feature.strip(): name.strip() for feature, name in pairs}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``penguin-utils`` and its four commands."""
    from penguin_utils import __version__

    epilog = "Run 'penguin-utils COMMAND --help' for the options of a command."
    parser = argparse.ArgumentParser(prog="penguin-utils", description=__doc__.split("\n")[0], epilog=epilog)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    positive, non_negative = _int_at_least(1), _int_at_least(0)

    fit = commands.add_parser("fit", help="fit the model to the penguins, save it", description=_run_fit.__doc__)
    fit.add_argument("--clusters", type=positive, default=3, metavar="K", help="number of clusters (default 3)")
    fit.add_argument("--draws", type=positive, default=1000, metavar="N", help="draws per chain (default 1000)")
    fit.add_argument("--tune", type=non_negative, metavar="N", help="tuning steps per chain (default: --draws)")
    fit.add_argument("--chains", type=positive, default=4, metavar="C", help="number of chains (default 4)")
    fit.add_argument("--seed", type=non_negative, default=0, metavar="S", help="random seed (default 0)")
    fit.add_argument("--out", required=True, metavar="FIT.nc", help="where to save the fit")
    fit.add_argument("--force", dest="overwrite", action="store_true", help="overwrite --out if it exists")
    fit.add_argument("--no-progress", action="store_true", help="do not show the sampler's progress bar")
    fit.set_defaults(run=_run_fit)

    assign = commands.add_parser(
        "assign", help="assign new penguins to a fit's clusters", description=_run_assign.__doc__
    )
    assign.add_argument("fit", metavar="FIT.nc", help="a fit saved by 'penguin-utils fit'")
    assign.add_argument("input", metavar="PENGUINS", help="CSV or Parquet file, or '-' for CSV on standard input")
    assign.add_argument("--out", default="-", metavar="OUT", help="CSV file, or a .parquet folder (default: stdout)")
    assign.add_argument("--force", dest="overwrite", action="store_true", help="overwrite --out if it exists")
    columns_help = "the input columns holding measurements, e.g. bill_length_mm='Bill (mm)',body_mass_g=Mass"
    assign.add_argument("--columns", type=_mapping, metavar="FEATURE=NAME,...", help=columns_help)
    assign.add_argument("--refuse-missing", action="store_true", help="refuse rows lacking a measurement; do not flag")
    assign.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler, e.g. tcp://host:8786")
    assign.add_argument("--jobs", dest="workers", type=positive, metavar="J", help="local threads (default: CPUs)")
    size_help = "bytes per partition; a smaller input is assigned without Dask (default 4000000)"
    assign.add_argument("--blocksize", type=_int_at_least(1000), default=4_000_000, metavar="BYTES", help=size_help)
    assign.set_defaults(run=_run_assign)

    check = commands.add_parser("check", help="check this machine's setup", description=_run_check.__doc__)
    check.add_argument("--no-warm", action="store_true", help="skip compiling and sampling the models")
    check.set_defaults(run=_run_check)

    precompile_help = "compile the chapters' models ahead of them"
    precompile = commands.add_parser("precompile", help=precompile_help, description=_run_precompile.__doc__)
    precompile.add_argument("models", nargs="*", metavar="MODEL", help="models to compile (default: all; see --list)")
    precompile.add_argument("--jobs", type=positive, metavar="J", help="models compiled at once (default: CPUs, <= 4)")
    precompile.add_argument("--list", action="store_true", help="list the models and exit")
    precompile.set_defaults(run=_run_precompile)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``penguin-utils`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CommandError, OSError) as err:  # bad input, or a file that cannot be written: exit status 1
        print(f"penguin-utils {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"penguin-utils {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `penguin-utils assign ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second complaint at exit
        return 0
    except Exception as err:  # a bug, not bad input: still one line, but say so
        bug = f"unexpected error ({type(err).__name__}: {_one_line(err)}); please report it with the command you ran"
        print(f"penguin-utils {args.command}: {bug}.", file=sys.stderr)
        return 3


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _run_fit(args: argparse.Namespace) -> int:
    """Fit the Gaussian mixture model to the Palmer penguins with nutpie, align the chains' cluster labels, print the
    convergence summary and save the posterior with its scaler to one NetCDF file, for 'penguin-utils assign'."""
    from penguin_utils.io import check_destination, save_fit

    out = check_destination(args.out, overwrite=args.overwrite)  # before any time is spent
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")  # Numba needs none
    from penguin_utils.data import load_penguins
    from penguin_utils.sampling import convergence_summary, fit_mixture
    from penguin_utils.scaling import fit_scaler

    penguins = load_penguins()
    scaler = fit_scaler(penguins)
    X = scaler.transform(penguins)
    if args.clusters > len(X):
        raise CommandError(f"--clusters {args.clusters} is more than the {len(X)} penguins.")
    tune = args.draws if args.tune is None else args.tune
    print(f"Fitting {args.clusters} clusters: {args.chains} chains x ({tune} tuning + {args.draws}) draws", flush=True)
    start = time.perf_counter()
    options = dict(draws=args.draws, tune=tune, chains=args.chains, random_seed=args.seed)
    idata = fit_mixture(X, args.clusters, **options, progress_bar=not args.no_progress)
    summary = convergence_summary(idata, var_names=["w", "mu"])
    max_rhat, min_ess, n_div = summary["r_hat"].max(), summary["ess_bulk"].min(), summary.attrs["divergences"]
    print(f"\n{summary.round(3).to_string()}\n\nfit in {time.perf_counter() - start:.1f} s")
    print(f"max r_hat {max_rhat:.3f}  (want <= 1.01)\nmin bulk ESS {min_ess}  (want >= {100 * args.chains})")
    print(f"divergences {n_div}  (want 0)")
    if not (max_rhat <= 1.01 and min_ess >= 100 * args.chains and n_div == 0):
        print("warning: not converged by these rules of thumb; try more --draws or fewer --clusters.", file=sys.stderr)
    save_fit(out, idata, scaler, overwrite=args.overwrite)
    print(f"Saved the fit and its scaler to {out}")
    return 0


def _read_fit(path: Path):
    """The checked posterior draws and the scaler saved by ``fit`` (no xarray or ArviZ import)."""
    if not path.exists():
        raise CommandError(f"no fit file at {path}; make one with 'penguin-utils fit --out {path}'.")
    from penguin_utils.io import read_draws

    try:
        return read_draws(path)
    except Exception as err:  # not ours, damaged, truncated, another format version: one line each
        hint = "Make a new one with 'penguin-utils fit --out FIT.nc'."
        raise CommandError(f"cannot use {path} as a fit: {_one_line(err)} {hint}") from None


def _run_assign(args: argparse.Namespace) -> int:
    """Read measurements in mm and g (bill_length_mm, ...; the Palmer LTER's 'Culmen Length (mm)', ...; or names
    mapped with --columns) from CSV (comma or semicolon, plain or gzip) or Parquet; scale them with the fit's scaler;
    write each penguin's probability of each cluster (p_cluster_K), the most probable cluster, its probability, the
    entropy (nats) and the measurements it lacks ('missing'), other columns copied, every row kept in order. Large
    tables are assigned with Dask, in local threads or on a cluster (--scheduler)."""
    from penguin_utils.io import check_destination
    from penguin_utils.streaming import TableError, assign_table, copy_of_stdin, inspect_table

    inputs = [args.fit, args.input]
    out = None if args.out == "-" else check_destination(args.out, overwrite=args.overwrite, inputs=inputs)
    draws, scaler = _read_fit(Path(args.fit).expanduser())
    name = "standard input" if args.input == "-" else args.input
    try:
        path = copy_of_stdin() if args.input == "-" else Path(args.input).expanduser()
        table = inspect_table(path, name=name, features=scaler.features, columns=args.columns)
        for note in table.notes:
            print(f"penguin-utils assign: {name}: {note}", file=sys.stderr)
        options = {k: getattr(args, k) for k in ("overwrite", "refuse_missing", "scheduler", "workers", "blocksize")}
        done = assign_table(draws, scaler, table, out, **options, progress=sys.stderr.isatty())
    except TableError as err:
        raise CommandError(err) from None
    if done.missing:  # kept and flagged, never dropped: say where
        n = len(done.missing)
        where = f"{table.where}{'s' * (n > 1)} " + ", ".join(map(str, done.missing[:20])) + " ..." * (n > 20)
        verb = "lacks" if n == 1 else "lack"
        kept = f"{verb} a measurement: kept with empty probabilities, named in the 'missing' column"
        warning = f"{n} penguin{'s' * (n > 1)} {kept} ({where}); --refuse-missing refuses such a table"
        print(f"penguin-utils assign: warning: {warning}.", file=sys.stderr)
    if out is not None:
        total = f" of {done.n_rows}" if done.missing else ""
        print(f"Assigned {done.n_rows - len(done.missing)}{total} penguins; wrote {out}", file=sys.stderr)
    return 0


def _run_check(args: argparse.Namespace) -> int:
    """Print the versions, PyTensor backend and BLAS in use, check that the data load and the compile cache is
    writable, then compile and briefly sample both models so that the chapters start sampling in seconds."""
    from penguin_utils.check import run_check

    return run_check(warm=not args.no_warm)


def _run_precompile(args: argparse.Namespace) -> int:
    """Compile the models the chapters sample into PyTensor's and Numba's on-disk caches, several at once, so that
    the chapters load them in seconds: a first run of the book compiles them one after another on one core."""
    from penguin_utils.precompile import BOOK_MODELS, check_names, precompile

    try:
        check_names(args.models)
    except ValueError as err:
        raise CommandError(f"{err}; 'penguin-utils precompile --list' lists them") from None
    if args.list:
        print("\n".join(BOOK_MODELS))
    else:
        precompile(args.models or None, jobs=args.jobs)
    return 0
