"""Compile the models the chapters sample before the chapters run, on every core.

Each chapter compiles its own models, and later runs load them from PyTensor's and Numba's
on-disk caches in seconds. A first run on a machine compiles them one chapter after
another, and Numba compiles on one core, leaving the others idle for minutes at a time.
``python -m penguin_utils precompile`` (or ``make precompile``) compiles the same models
into the same caches, as many at a time as there are workers, so that the chapters then
load them.

:data:`BOOK_MODELS` builds each model as its chapter does. The caches are keyed on the
compiled graph, so an entry that drifts from its chapter costs time, never correctness:
the chapter then compiles its model itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

__all__ = ["BOOK_MODELS", "MAX_DEFAULT_JOBS", "check_names", "precompile"]

#: Workers when ``jobs`` is not given, however many CPUs there are: a laptop with many cores
#: may not have 1.5 GB of memory free for each.
MAX_DEFAULT_JOBS = 4


def _chapter_02_categorical(penguins, X):
    from penguin_utils.models import build_categorical_model, em_initial_point

    return build_categorical_model(X), em_initial_point(X)


def _chapter_03_mixture(penguins, X):
    from penguin_utils.models import build_mixture_model, em_initial_point

    return build_mixture_model(X, fused_logp=False), em_initial_point(X)


def _book_fit(penguins, X):
    from penguin_utils.book import FIT_SETTINGS
    from penguin_utils.models import build_mixture_model, em_initial_point

    k = FIT_SETTINGS["n_clusters"]
    return build_mixture_model(X, k), em_initial_point(X, k, random_seed=FIT_SETTINGS["random_seed"])


def _chapter_07(n_clusters: int) -> Callable:
    def build(penguins, X):
        from penguin_utils.models import PriorSettings, build_mixture_model, em_initial_point

        model = build_mixture_model(X, n_clusters, priors=PriorSettings(dirichlet_alpha=5.0))
        return model, em_initial_point(X, n_clusters, random_seed=1)

    return build


def _chapter_09_gamma(penguins, X):
    from penguin_utils.models import build_mixture_model

    return build_mixture_model(X, priors={"sd_prior": "gamma", "sd_sigma": 0.5, "sd_shape": 5.0}), None


def _chapter_09_ordered(penguins, X):
    from penguin_utils.models import build_mixture_model

    return build_mixture_model(X, ordered="bill_length_mm"), None


def _chapter_10_marginal(penguins, X):
    from pymc_extras import marginalize

    from penguin_utils.models import build_categorical_model, em_initial_point

    return marginalize(build_categorical_model(X), ["z"]), em_initial_point(X, random_seed=1)


def _chapter_13_sex(penguins, X):
    from penguin_utils.sex import build_sex_mixture_model, sex_initial_point

    return build_sex_mixture_model(X, penguins["sex"]), sex_initial_point(X)


def _chapter_14_labelled(penguins, X):
    from penguin_utils.semisupervised import build_labelled_mixture_model, labelled_initial_point, pick_labelled

    labels = pick_labelled(penguins["species"], 2, random_seed=0)
    return build_labelled_mixture_model(X, labels), labelled_initial_point(X, labels)


def _chapter_15_sparse(penguins, X):
    from penguin_utils.models import build_mixture_model, sparse_initial_point

    model = build_mixture_model(X, 10, priors={"dirichlet_alpha": 0.1, "sd_prior": "gamma"})
    return model, sparse_initial_point(X, 10, n_occupied=3, random_seed=1)


#: name -> ``build(penguins, X)`` returning ``(model, initial_point)`` as the chapter passes
#: them to :func:`~penguin_utils.sampling.compile_mixture` (to
#: :func:`~penguin_utils.sampling.sample_categorical` for chapter 2's model), the longest to
#: compile first so that the workers finish together. Where the unit tests or
#: ``python -m penguin_utils check`` have compiled a model already (chapters 2-5), its
#: worker loads it in seconds.
BOOK_MODELS: dict[str, Callable] = {
    "10 marginalize(categorical)": _chapter_10_marginal,
    "15 sparse K = 10": _chapter_15_sparse,
    "03 pm.Mixture": _chapter_03_mixture,
    "02 categorical, compound step": _chapter_02_categorical,
    "14 known labels": _chapter_14_labelled,
    "13 sex within species": _chapter_13_sex,
    "07 K = 5, Dirichlet(5)": _chapter_07(5),
    "09 ordered means": _chapter_09_ordered,
    "07 K = 4, Dirichlet(5)": _chapter_07(4),
    "03 the book's fit (fused)": _book_fit,
    "07 K = 2, Dirichlet(5)": _chapter_07(2),
    "09 Gamma sd prior": _chapter_09_gamma,
    "07 K = 3, Dirichlet(5)": _chapter_07(3),
    "07 K = 1, Dirichlet(5)": _chapter_07(1),
}


def check_names(names: Iterable[str]) -> list[str]:
    """``names`` as a list, if each is a key of :data:`BOOK_MODELS`; a ValueError naming the first that is not."""
    names = list(names)
    unknown = [n for n in names if n not in BOOK_MODELS]
    if unknown:
        raise ValueError(f"no book model named {unknown[0]!r}")
    return names


def _compile(name: str) -> float:
    """Build and compile one of :data:`BOOK_MODELS` in this process; return the seconds it took."""
    import pytensor

    from penguin_utils.book import setup_chapter
    from penguin_utils.sampling import compile_mixture, sample_categorical

    penguins, _, X = setup_chapter()
    start = time.perf_counter()
    model, initial_point = BOOK_MODELS[name](penguins, X)
    if model.discrete_value_vars:
        # The compound step's functions are compiled by Numba at their first call: one draw.
        with _quiet("pymc"):
            sample_categorical(model, initial_point, tune=1, draws=1, chains=1, cores=1)
    else:
        # Chapter 10 compiles its own small functions in PyTensor's Python mode; so does this.
        mode = "FAST_COMPILE" if name.startswith("10 ") else pytensor.config.mode
        with pytensor.config.change_flags(mode=mode):
            compile_mixture(model, initial_point)
    return time.perf_counter() - start


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Only errors from ``logger_name`` while inside: pm.sample's notes on one draw are noise here."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def precompile(names: Iterable[str] | None = None, *, jobs: int | None = None, stream=None) -> dict[str, float]:
    """Compile the chapters' models into the on-disk caches, ``jobs`` at a time.

    Parameters
    ----------
    names : iterable of str, optional
        Keys of :data:`BOOK_MODELS`; all of them by default.
    jobs : int, optional
        Worker processes, each holding a model and its compiler (1.5 GB of memory at its
        peak, compiling chapter 10's model); by default the CPUs this process may use, at most
        :data:`MAX_DEFAULT_JOBS`, and never more than there are models.
    stream : text file, optional
        Where a line per model is printed, in the order of ``names``, once it is compiled
        (standard output), then the total.

    Returns
    -------
    dict of str to float
        Seconds each model took in its worker, building included: seconds when the caches
        already hold it, minutes when they do not.
    """
    names = list(BOOK_MODELS) if names is None else check_names(names)
    if jobs is None:  # the CPUs this process may use (Linux), else all of them
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        jobs = min(cpus, MAX_DEFAULT_JOBS)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}.")
    stream = sys.stdout if stream is None else stream
    start, seconds = time.perf_counter(), {}
    # Workers are started afresh ("spawn"): a fork of a process that has compiled with
    # Numba or LLVM is not safe.
    context = multiprocessing.get_context("spawn")
    jobs = min(jobs, len(names))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {name: pool.submit(_compile, name) for name in names}
        for name, future in futures.items():
            seconds[name] = future.result()
            stream.write(f"  {name:<30} {seconds[name]:6.1f} s\n")
            stream.flush()
    stream.write(f"Compiled {len(seconds)} models in {time.perf_counter() - start:.0f} s, {jobs} at a time\n")
    return seconds
