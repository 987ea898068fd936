"""Run the samplers the way the book recommends, with fixed seeds.

The mixture model is sampled with nutpie (NUTS in Rust, the model compiled to machine
code with Numba); the categorical model with PyMC's compound step (NUTS for the
continuous parameters, ``CategoricalGibbsMetropolis`` for the labels) on PyTensor's
NUMBA backend, because the pip-installed C backend has no BLAS.
Every chain starts from the same EM solution, and the chains are relabelled
afterwards with :func:`~penguin_utils.relabel.align_chains`.
"""

from __future__ import annotations

import arviz as az
import pymc as pm

from penguin_utils.models import build_mixture_model, em_initial_point
from penguin_utils.relabel import align_chains

__all__ = ["compile_mixture", "fit_mixture", "sample_categorical", "sample_mixture"]


def _check_initial_point(model: pm.Model, initial_point: dict) -> None:
    expected = {rv.name for rv in model.free_RVs if rv.name != "z"}
    given = set(initial_point)
    if given != expected:
        raise ValueError(
            f"initial_point has the variables {sorted(given)}, but the model needs {sorted(expected)}; "
            "make it with penguin_utils.models.em_initial_point(X, n_clusters) using the model's n_clusters."
        )


def compile_mixture(model: pm.Model, initial_point: dict):
    """Compile a mixture model for nutpie, starting its chains at ``initial_point``.

    Compilation takes tens of seconds the first time (Numba caches the pieces on disk, so
    later processes are quicker); keep the result to sample several times.

    Parameters
    ----------
    model : pymc.Model
        From :func:`~penguin_utils.models.build_mixture_model`.
    initial_point : dict
        From :func:`~penguin_utils.models.em_initial_point`. Every chain starts exactly
        there, without nutpie's default jitter, so that all chains start with the same
        labelling and away from poor local modes; the chains still differ through their
        random momenta.

    Returns
    -------
    nutpie.CompiledModel
    """
    import nutpie

    _check_initial_point(model, initial_point)
    return nutpie.compile_pymc_model(model, backend="numba", initial_points=initial_point, jitter_rvs=set())


def sample_mixture(
    compiled,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int = 2,
    random_seed: int = 0,
) -> az.InferenceData:
    """Sample a compiled mixture model with nutpie and align the chains' labels.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` (chain, draw, ...) with consistent cluster labels across chains,
        ``sample_stats`` and ``warmup_sample_stats`` from nutpie.
    """
    import nutpie

    idata = nutpie.sample(
        compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=random_seed, progress_bar=False
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
) -> az.InferenceData:
    """Build, compile and sample the mixture model on scaled data ``X`` in one call.

    The steps of chapter 3 (:func:`~penguin_utils.models.build_mixture_model`,
    :func:`~penguin_utils.models.em_initial_point`, :func:`compile_mixture`,
    :func:`sample_mixture`) with the book's defaults.
    """
    model = build_mixture_model(X, n_clusters)
    compiled = compile_mixture(model, em_initial_point(X, n_clusters, random_seed=random_seed))
    return sample_mixture(compiled, draws=draws, tune=tune, chains=chains, random_seed=random_seed)
