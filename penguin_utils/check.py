"""The workshop's setup check: ``python -m penguin_utils check`` (or ``make check``).

It prints what a teacher needs to know about a participant's machine (versions, which
PyTensor backend and BLAS are in use, whether the data load, whether the compile cache
can be written), then compiles and briefly samples the two mixture models of the book,
on the real penguins, exactly as the chapters compile them: chapter 3's ``pm.Mixture``
model (``build_mixture_model(X, fused_logp=False)`` through ``compile_mixture``) and the
fused model of ``fit_mixture`` (chapters 4 and 5, ``penguin-utils fit``). The compiled
code lands in PyTensor's and Numba's on-disk caches, so in class those chapters start
sampling in seconds. Every failure is reported with its fix and makes the exit status 1.

This module and ``__main__`` run on Python 3.7 and newer, so that a too-old Python is told so.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

__all__ = ["MIN_PYTHON", "python_problem", "run_check"]

#: The oldest Python the book supports (pyproject.toml's ``requires-python``).
MIN_PYTHON = (3, 11)

#: Packages whose versions a teacher wants to see, in the order printed.
PACKAGES = ("pymc", "pytensor", "arviz", "nutpie", "numpy", "numba", "palmerpenguins")

_INSTALL_FIX = "install the project into this environment: pip install -e . (or conda env create -f environment.yml)"


def python_problem(version_info) -> str | None:
    """Say what is wrong with a Python of ``version_info`` for this book, or ``None``.

    Parameters
    ----------
    version_info : tuple of int
        As ``sys.version_info``; only the first two numbers count.
    """
    if tuple(version_info[:2]) >= MIN_PYTHON:
        return None
    have = ".".join(str(v) for v in version_info[:3])
    need = ".".join(str(v) for v in MIN_PYTHON)
    return (
        f"Python {have} is too old: the book needs Python {need} or newer. Fix: install a newer Python "
        "(e.g. conda create -n penguins python=3.12, or from python.org), create the environment "
        "with it and install the project again (pip install -e .)."
    )


class _Report:
    """Aligned lines of 'what  value  status', and the list of problems with their fixes."""

    def __init__(self, stream):
        self.stream = stream
        self.problems = []

    def line(self, what, value, status="ok"):
        self.stream.write(f"  {what:<26} {value:<44} {status}\n")
        self.stream.flush()

    def fail(self, what, value, fix):
        self.line(what, value, "FAIL")
        self.problems.append(f"{what}: {fix}")

    def section(self, title):
        self.stream.write(f"\n{title}\n")


def _version(name):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _writable(folder) -> str | None:
    """``None`` if a file can be created in ``folder`` (created if missing), else the reason."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".penguin-check-"):
            pass
    except OSError as err:
        return f"{type(err).__name__}: {err.strerror or err}"
    return None


def _cache_fix(path):
    return (
        f"the compile cache {path} cannot be written. Fix: make it writable, or point PyTensor at a "
        "folder you can write, e.g. export PYTENSOR_FLAGS=base_compiledir=$HOME/.pytensor "
        "(Windows: set PYTENSOR_FLAGS=base_compiledir=%USERPROFILE%\\.pytensor)"
    )


def run_check(stream=None, *, warm: bool = True) -> int:
    """Run every check, printing to ``stream`` (standard output); return the exit status.

    Parameters
    ----------
    stream : text file, optional
    warm : bool, default True
        Compile and sample both mixture models (about 10 s with warm caches, a few
        minutes on a cold machine).

    Returns
    -------
    int
        0 when everything works, 1 when something must be fixed (the fixes are printed).
    """
    stream = sys.stdout if stream is None else stream
    report = _Report(stream)
    start = time.perf_counter()
    stream.write("penguin-mixtures setup check\n")

    report.section("Versions")
    python = "{}.{}.{}".format(*sys.version_info[:3])
    problem = python_problem(sys.version_info)
    if problem:
        report.fail("python", python, problem)
        return _finish(report, start)
    report.line("python", python)
    for name in PACKAGES:
        found = _version(name)
        if found is None:
            fix = _INSTALL_FIX
            if name == "palmerpenguins":
                fix = (
                    "the penguin data package is missing. Fix: pip install palmerpenguins "
                    "(or conda install -c conda-forge palmerpenguins)"
                )
            report.fail(name, "not installed", fix)
        else:
            report.line(name, found)

    report.section("PyTensor")
    pytensor = _import_pytensor(report)
    if pytensor is not None:
        config = pytensor.config
        report.line("mode / linker", f"{config.mode} / {config.linker}")
        blas = config.blas__ldflags
        report.line(
            "BLAS for the C backend",
            blas or "none",
            "ok" if blas else "note: the book samples with nutpie/Numba, which bring their own",
        )
        report.line("C++ compiler", config.cxx or "none", "ok" if config.cxx else "note: not needed by the book")
        try:
            compiledir = str(config.compiledir)  # PyTensor creates it on first access
        except Exception as err:
            compiledir, reason = str(config.base_compiledir), " ".join(str(err).split())
        else:
            reason = _writable(compiledir)
        if reason:
            report.fail("compile cache", compiledir, _cache_fix(compiledir) + " [" + reason + "]")
        else:
            report.line("compile cache", compiledir)
    numba_dir = os.environ.get("NUMBA_CACHE_DIR")
    if numba_dir:
        reason = _writable(numba_dir)
        if reason:
            report.fail(
                "Numba cache",
                numba_dir,
                f"NUMBA_CACHE_DIR={numba_dir} cannot be written [{reason}]. "
                "Fix: make it writable or unset NUMBA_CACHE_DIR",
            )
        else:
            report.line("Numba cache", numba_dir)

    report.section("Data")
    penguins = _load_data(report)

    if warm and penguins is not None and not report.problems:
        report.section("Compiling and sampling both models (this warms the caches the chapters use)")
        _warm(report, penguins)
    return _finish(report, start)


def _import_pytensor(report):
    import warnings

    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    try:
        import pytensor
    except ImportError:
        report.fail("pytensor", "cannot be imported", _INSTALL_FIX)
        return None
    except Exception as err:  # PyTensor refuses to start when it cannot create its compiledir
        message = " ".join(str(err).split())
        if "compiledir" in message:
            report.fail("compile cache", "cannot be created", _cache_fix("folder") + " [" + message + "]")
        else:
            report.fail("pytensor", "fails to start", message)
        return None
    return pytensor


def _load_data(report):
    try:
        from penguin_utils.data import load_penguins

        penguins = load_penguins()
    except ModuleNotFoundError as err:
        if err.name == "palmerpenguins":
            # Already reported with its fix under Versions, unless only the import is broken.
            if not any(p.startswith("palmerpenguins") for p in report.problems):
                report.fail("data", "palmerpenguins cannot be imported", "pip install palmerpenguins")
            else:
                report.line("data", "not loaded (palmerpenguins missing)", "FAIL")
        else:
            report.fail("data", f"import of {err.name} failed", _INSTALL_FIX)
        return None
    except Exception as err:
        report.fail("data", "failed to load", " ".join(str(err).split()))
        return None
    report.line("penguins", f"{len(penguins)} penguins with all four measurements")
    return penguins


def _warm(report, penguins):
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    try:
        from penguin_utils.assign import assign_clusters
        from penguin_utils.evaluate import species_agreement
        from penguin_utils.models import build_mixture_model, em_initial_point
        from penguin_utils.sampling import compile_mixture, fit_mixture, sample_mixture
        from penguin_utils.scaling import fit_scaler

        X = fit_scaler(penguins).transform(penguins)
        tiny = {"draws": 20, "tune": 20, "chains": 2}

        t0 = time.perf_counter()
        # Chapter 3: the plain pm.Mixture likelihood, compiled exactly as the chapter does.
        model = build_mixture_model(X, fused_logp=False)
        compiled = compile_mixture(model, em_initial_point(X))
        sample_mixture(compiled, **tiny)
        report.line("pm.Mixture model (ch. 3)", f"compiled and sampled in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        idata = fit_mixture(X, **tiny)  # chapters 4-5 and `penguin-utils fit`: the fused density
        report.line("fused model (ch. 4-5, CLI)", f"compiled and sampled in {time.perf_counter() - t0:.1f} s")

        clusters = assign_clusters(idata, X)["cluster"]
        agreement = species_agreement(clusters, penguins["species"])
        report.line(
            "end to end",
            "{} of {} penguins in their species' cluster".format(
                len(penguins) - agreement["misassigned"], len(penguins)
            ),
        )
    except Exception as err:
        report.fail("sampling", "failed", "{}: {}".format(type(err).__name__, " ".join(str(err).split())))


def _finish(report, start) -> int:
    elapsed = time.perf_counter() - start
    stream = report.stream
    if report.problems:
        n = len(report.problems)
        stream.write(f"\n{n} problem{'s' * (n > 1)} to fix before the workshop:\n")
        for problem in report.problems:
            stream.write(f"  - {problem}\n")
        stream.write(f"Check took {elapsed:.0f} s.\n")
        return 1
    stream.write(f"\nAll good: this machine is ready for the workshop (check took {elapsed:.0f} s).\n")
    return 0
