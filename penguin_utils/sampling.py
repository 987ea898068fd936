"""Run the samplers the way the book recommends, with fixed seeds.

The mixture model is sampled with nutpie (NUTS in Rust, the model compiled to machine
code with Numba); the categorical model with PyMC's compound step (NUTS for the
continuous parameters, ``CategoricalGibbsMetropolis`` for the labels) on PyTensor's
NUMBA backend, because the pip-installed C backend has no BLAS.
Every chain starts from the same EM solution (or, for a chapter that shows what
dispersed starts do, from nutpie's default jittered ones), and the chains are relabelled
afterwards with :func:`~penguin_utils.relabel.align_chains`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
from threadpoolctl import threadpool_limits

from penguin_utils._compile_cache import (
    WRAPPER_NAMES,
    Uncacheable,
    cached_nutpie_wrappers,
    cached_rewritten_graphs,
)
from penguin_utils.models import build_mixture_model, em_initial_point
from penguin_utils.relabel import align_chains

__all__ = [
    "compile_mixture",
    "convergence_summary",
    "fit_mixture",
    "sample_categorical",
    "sample_mixture",
    "unconstrained_vector",
]


def _check_initial_point(model: pm.Model, initial_point: dict, name: str = "initial_point") -> None:
    expected = {rv.name for rv in model.free_RVs if rv.name != "z"}
    given = set(initial_point)
    if given != expected:
        raise ValueError(
            f"{name} has the variables {sorted(given)}, but the model needs {sorted(expected)}; "
            "make it with penguin_utils.models.em_initial_point(X, n_clusters) using the model's n_clusters."
        )


# nutpie's wrappers around a model's compiled log-density and its expansion to the traced
# variables (nutpie.compile_pymc, numba library names).
_NUTPIE_WRAPPERS = ("_make_c_logp_func.", "_make_c_expand_func.", *WRAPPER_NAMES)


@contextmanager
def _link_nutpie_wrappers_cheaply() -> Iterator[None]:
    """Skip the second -O3 pass over the code nutpie's wrappers link in.

    nutpie wraps each model's density in a Numba ``cfunc`` (here the cacheable copies from
    :mod:`penguin_utils._compile_cache`). Compiling a wrapper links in the IR of every
    function the density calls, already optimised when each was compiled, and runs LLVM's
    module passes over the whole again: 4 s of chapter 3's 16 s compile whenever the
    wrapper is not on disk. Here only the wrapper libraries are optimised at level 0;
    every function they call keeps its own -O3 code and the machine code is still
    generated at -O3, so the draws are identical. Should Numba's internals change, the
    patch is skipped and compiling is merely slower.
    """
    from numba.core import codegen, config

    library = getattr(codegen, "CPUCodeLibrary", None)
    original = getattr(library, "_optimize_final_module", None)
    if original is None:
        yield
        return

    def optimize_final_module(self):
        if not str(getattr(self, "name", "")).startswith(_NUTPIE_WRAPPERS):
            return original(self)
        level = config.OPT
        config.OPT = type(level)(0)
        try:
            return original(self)
        finally:
            config.OPT = level

    library._optimize_final_module = optimize_final_module
    try:
        yield
    finally:
        library._optimize_final_module = original


def compile_mixture(model: pm.Model, initial_point: dict | None):
    """Compile a mixture model for nutpie, starting its chains at ``initial_point``.

    Compilation takes tens of seconds the first time; Numba caches the compiled code on
    disk, nutpie's C wrappers included, and the log density and gradient are stored
    rewritten (:mod:`penguin_utils._compile_cache`), so later processes only rebuild
    PyTensor's graphs and load the rest (about 4 s for chapter 3's model, 2 s for the
    fused one). Keep the result to sample several times.

    Parameters
    ----------
    model : pymc.Model
        From :func:`~penguin_utils.models.build_mixture_model`.
    initial_point : dict or None
        From :func:`~penguin_utils.models.em_initial_point`: every chain starts exactly
        there, without nutpie's default jitter, so that all chains start with the same
        labelling and away from poor local modes; the chains still differ through their
        random momenta. The book's fits do this.

        None: nutpie's defaults, as ``nutpie.compile_pymc_model(model, backend="numba")``
        gives them (same draws for the same seed): each chain starts at the model's default
        point moved by a uniform (-1, 1) jitter of every unconstrained parameter, different
        for every chain. That is for showing what dispersed starts do to a mixture (label
        switching, chains stuck in other modes, chapter 9) while still loading the compiled
        wrappers from the disk cache. Required, so that dispersed starts are never chosen
        by leaving the argument out.

    Returns
    -------
    nutpie.CompiledModel
    """
    import nutpie

    options: dict = {"backend": "numba"}
    if initial_point is not None:
        _check_initial_point(model, initial_point)
        options |= {"initial_points": initial_point, "jitter_rvs": set()}
    try:
        with cached_rewritten_graphs(), _link_nutpie_wrappers_cheaply(), cached_nutpie_wrappers() as cache:
            return nutpie.compile_pymc_model(model, **options, **cache)
    except Uncacheable:
        pass
    with cached_rewritten_graphs(), _link_nutpie_wrappers_cheaply():
        return nutpie.compile_pymc_model(model, **options)


def unconstrained_vector(compiled, model: pm.Model, point: dict) -> np.ndarray:
    """``point`` as the flat vector of unconstrained values that nutpie's compiled model takes.

    nutpie's sampler moves, and its compiled log-density (``compiled_logp_func``) evaluates,
    one vector: the free variables' transformed values, each flattened, joined in the order
    of ``model.free_RVs``. It is also what ``initial_point_func`` returns.

    Parameters
    ----------
    compiled : nutpie.CompiledModel
        :func:`compile_mixture` of ``model``.
    model : pymc.Model
        From :func:`~penguin_utils.models.build_mixture_model`.
    point : dict
        Values of every free variable, on their own scale, as
        :func:`~penguin_utils.models.em_initial_point` gives them.

    Returns
    -------
    ndarray, shape (compiled.n_dim,)
    """
    from pymc.initial_point import make_initial_point_fn

    _check_initial_point(model, point, "point")
    point_fn = make_initial_point_fn(model=model, overrides=point, jitter_rvs=set(), return_transformed=True)
    values = point_fn(0)
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    flat = np.concatenate([np.asarray(values[name], dtype=float).reshape(-1) for name in names])
    if flat.size != compiled.n_dim or list(compiled.shape_info[0][: len(names)]) != names:
        raise ValueError("compiled was not compiled from model: their parameters differ in size.")
    return flat


def sample_mixture(
    compiled,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    random_seed: int = 0,
    progress_bar: bool = False,
) -> az.InferenceData:
    """Sample a compiled mixture model with nutpie and align the chains' labels.

    ``cores`` defaults to one per chain, at most the CPUs this process may use;
    ``progress_bar`` shows nutpie's (in a terminal or notebook).

    Returns
    -------
    arviz.InferenceData
        ``posterior`` (chain, draw, ...) with consistent cluster labels across chains,
        ``sample_stats`` and ``warmup_sample_stats`` from nutpie.
    """
    import nutpie

    if cores is None:
        cores = min(chains, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    # nutpie runs a chain per thread, and pm.Mixture's densities call OpenBLAS for 4 x 4
    # Cholesky factors; left to itself OpenBLAS splits each call over threads of its own,
    # which then spin against nutpie's (chapter 3's model: 460 s of CPU instead of 13 s).
    with threadpool_limits(1, user_api="blas"):
        idata = nutpie.sample(
            compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=random_seed, progress_bar=progress_bar
        )
    return align_chains(idata)


def sample_categorical(
    model: pm.Model,
    initial_point: dict,
    *,
    draws: int = 100,
    tune: int = 100,
    chains: int = 2,
    cores: int = 2,
    random_seed: int = 0,
) -> az.InferenceData:
    """Sample the explicit-categorical model with the compound NUTS + Gibbs step.

    Each Gibbs sweep evaluates the whole model once per penguin, so a draw costs tens of
    milliseconds where the mixture model needs a fraction of one.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` with ``w``, ``mu``, ``chol`` and the labels ``z``, chains aligned.
    """
    _check_initial_point(model, initial_point)
    continuous = [rv for rv in model.free_RVs if rv.name != "z"]
    # Steps given explicitly compile their own functions: pm.sample's compile_kwargs
    # would not reach them, and the default C backend is slow without BLAS.
    numba = {"mode": "NUMBA"}
    with model:
        steps = [
            pm.NUTS(continuous, compile_kwargs=numba),
            pm.CategoricalGibbsMetropolis([model["z"]], compile_kwargs=numba),
        ]
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            step=steps,
            initvals=initial_point,
            random_seed=random_seed,
            progressbar=False,
            # The labels of a short run barely move, so pm.sample's automatic checks over
            # z would only warn; check w and mu with arviz instead.
            compute_convergence_checks=False,
        )
    return align_chains(idata) if chains > 1 else idata


def fit_mixture(
    X,
    n_clusters: int = 3,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int = 0,
    progress_bar: bool = False,
) -> az.InferenceData:
    """Build, compile and sample the mixture model on scaled data ``X`` in one call.

    The steps of chapter 3 (:func:`~penguin_utils.models.build_mixture_model`,
    :func:`~penguin_utils.models.em_initial_point`, :func:`compile_mixture`,
    :func:`sample_mixture`) with the book's defaults.
    """
    model = build_mixture_model(X, n_clusters)
    compiled = compile_mixture(model, em_initial_point(X, n_clusters, random_seed=random_seed))
    return sample_mixture(
        compiled, draws=draws, tune=tune, chains=chains, random_seed=random_seed, progress_bar=progress_bar
    )


def convergence_summary(idata, var_names: Sequence[str] = ("w", "mu")) -> pd.DataFrame:
    """The convergence table of a fit: one row per parameter entry.

    Parameters
    ----------
    idata : arviz.InferenceData
        A fit with a ``posterior`` group (and ``sample_stats`` for the divergences).
    var_names : sequence of str, default ("w", "mu")
        The posterior variables to summarise.

    Returns
    -------
    pandas.DataFrame
        Columns ``mean``, ``sd``, ``hdi_3%``, ``hdi_97%`` (unrounded), ``ess_bulk`` and
        ``ess_tail`` (whole numbers, nullable ``Int64``: entries that never vary, such as the
        zeros above a Cholesky diagonal, have none) and ``r_hat`` (NaN for those entries, and
        with a single chain). ``attrs["divergences"]`` counts divergent transitions over all
        chains (0 when the sampler records none).
    """
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant entries and single chains give NaN
        summary = az.summary(idata, var_names=list(var_names), round_to="none")
    summary = summary[["mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "ess_tail", "r_hat"]].copy()
    for ess in ("ess_bulk", "ess_tail"):
        summary[ess] = summary[ess].round().astype("Int64")
    stats = getattr(idata, "sample_stats", None)
    summary.attrs["divergences"] = int(stats["diverging"].sum()) if stats is not None and "diverging" in stats else 0
    return summary
