"""Real, short sampling runs: the samplers, the start point and the label alignment together."""

import arviz as az
import numpy as np
import pytest
import xarray as xr

from penguin_utils.assign import assign_clusters, label_frequencies
from penguin_utils.evaluate import species_agreement
from penguin_utils.models import build_categorical_model, build_mixture_model, em_initial_point
from penguin_utils.relabel import align_chains
from penguin_utils.sampling import compile_mixture, sample_categorical, sample_mixture

# Every test here compiles or samples a PyMC model.
pytestmark = pytest.mark.slow


def _permuted(point, perm):
    out = {"w": point["w"][perm], "mu": point["mu"][perm]}
    out |= {f"chol_packed_{k}": point[f"chol_packed_{p}"] for k, p in enumerate(perm)}
    return out


@pytest.fixture(scope="module")
def model(X):
    return build_mixture_model(X)


def test_mixture_sampling_converges_and_finds_the_species(compiled_mixture, X, penguins):
    idata = sample_mixture(compiled_mixture, tune=300, draws=300, chains=2, random_seed=3)
    assert idata.posterior["mu"].dims == ("chain", "draw", "cluster", "feature")
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 300
    assert int(idata.sample_stats["diverging"].sum()) == 0
    assert az.rhat(idata, var_names=["w", "mu"]).to_array().max() < 1.05
    result = species_agreement(assign_clusters(idata, X)["cluster"], penguins["species"])
    assert result["misassigned"] <= 8
    assert result["ari"] > 0.9


def test_chains_started_with_other_labels_are_aligned(model, compiled_mixture, X):
    """Two runs started from differently numbered EM solutions describe the same clusters."""
    perm = np.array([2, 0, 1])
    runs = [
        sample_mixture(compiled, tune=200, draws=200, chains=1, random_seed=4)
        for compiled in (compiled_mixture, compile_mixture(model, _permuted(em_initial_point(X), perm)))
    ]
    mixed = runs[0].copy()
    mixed.posterior = xr.concat([r.posterior.drop_attrs() for r in runs], dim="chain").assign_coords(chain=[0, 1])
    means = mixed.posterior["mu"].mean("draw").values
    assert not np.allclose(means[0], means[1], atol=0.2)  # labels really differ
    aligned = align_chains(mixed)
    np.testing.assert_array_equal(aligned.posterior.attrs["cluster_permutation"], [0, 1, 2, *np.argsort(perm)])
    means = aligned.posterior["mu"].mean("draw").values
    np.testing.assert_allclose(means[0], means[1], atol=0.2)
    assert az.rhat(aligned, var_names=["mu"]).to_array().max() < 1.1


def test_categorical_sampler_runs_on_numba(X):
    idata = sample_categorical(build_categorical_model(X), em_initial_point(X), tune=10, draws=10, chains=1)
    assert idata.posterior["z"].shape == (1, 10, len(X))
    freq = label_frequencies(idata)
    np.testing.assert_allclose(freq[[0, 1, 2]].sum(axis=1), 1)


def test_wrong_initial_point_is_refused(model, X):
    with pytest.raises(ValueError, match="initial_point has the variables"):
        compile_mixture(model, em_initial_point(X, n_clusters=2))


def test_cheap_wrapper_link_gives_the_same_draws_and_touches_only_nutpie_wrappers():
    import nutpie
    import pymc as pm
    from numba.core import codegen, config

    from penguin_utils import sampling

    with pm.Model() as tiny:
        sd = pm.HalfNormal("sd")
        pm.Normal("x", 0.0, sd, observed=np.array([0.3, -1.2, 2.0]))
    optimised = []
    level = int(config.OPT)
    original = codegen.CPUCodeLibrary._optimize_final_module

    def record(self):
        optimised.append((self.name, int(config.OPT)))
        return original(self)

    codegen.CPUCodeLibrary._optimize_final_module = record
    try:
        with sampling._link_nutpie_wrappers_cheaply():
            cheap = nutpie.compile_pymc_model(tiny, backend="numba")
    finally:
        codegen.CPUCodeLibrary._optimize_final_module = original
    full = nutpie.compile_pymc_model(tiny, backend="numba")
    assert codegen.CPUCodeLibrary._optimize_final_module is original  # restored

    runs = [nutpie.sample(c, draws=50, tune=50, chains=1, seed=4, progress_bar=False) for c in (cheap, full)]
    np.testing.assert_array_equal(runs[0].posterior["sd"], runs[1].posterior["sd"])
    # Level 0 for nutpie's two wrappers only, and the global level back afterwards.
    cheap_ones = [name for name, level in optimised if level == 0]
    assert len(cheap_ones) == 2 and all(name.startswith(sampling._NUTPIE_WRAPPERS) for name in cheap_ones)
    assert int(config.OPT) == level
