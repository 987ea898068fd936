"""Real, short sampling runs: the samplers, the start point and the label alignment together."""

import arviz as az
import numpy as np
import pytest
import xarray as xr

from penguin_utils.assign import assign_clusters, label_frequencies
from penguin_utils.evaluate import species_agreement
from penguin_utils.models import DATA_NAME, build_categorical_model, build_mixture_model, em_initial_point
from penguin_utils.relabel import align_chains
from penguin_utils.sampling import compile_mixture, sample_categorical, sample_mixture, unconstrained_vector
from penguin_utils.simulate import with_dataset

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


def test_with_dataset_swaps_the_data_and_the_start(model, compiled_mixture, X):
    """simulate.with_dataset, here beside the other tests that sample the session's compiled
    model: a model of its own would cost a compile of its own."""
    shifted = X.to_numpy() + 3.0  # far from the data the model was compiled with
    swapped = with_dataset(compiled_mixture, model, shifted, random_seed=0)
    np.testing.assert_array_equal(swapped.shared_data[DATA_NAME], shifted)
    np.testing.assert_array_equal(compiled_mixture.shared_data[DATA_NAME], X.to_numpy())  # the original is unchanged
    start = em_initial_point(shifted)
    n_w = 2  # w's simplex transform has K - 1 = 2 entries, then mu
    np.testing.assert_allclose(swapped.initial_point_func(0)[n_w : n_w + 12], start["mu"].ravel())
    fit = sample_mixture(swapped, tune=200, draws=100, chains=2, random_seed=0)
    # the mixture's mean, sum_k w_k mu_k, is the shifted data's mean (3 units from the compiled data's)
    mixture_mean = (fit.posterior["w"] * fit.posterior["mu"]).sum("cluster").mean(("chain", "draw"))
    np.testing.assert_allclose(mixture_mean, shifted.mean(axis=0), atol=0.3)


def test_unconstrained_vector_is_nutpies_own_start(model, compiled_mixture, X):
    """The session's model was compiled to start every chain at the EM solution, unjittered."""
    start = em_initial_point(X)
    flat = unconstrained_vector(compiled_mixture, model, start)
    np.testing.assert_allclose(flat, compiled_mixture.initial_point_func(0), rtol=1e-12)
    moved = unconstrained_vector(compiled_mixture, model, {**start, "mu": start["mu"] + 1.0})
    # mu has no transform and comes second, after w's K - 1 simplex coordinates
    np.testing.assert_allclose(moved - flat, np.r_[np.zeros(2), np.ones(12), np.zeros(flat.size - 14)])


def test_unconstrained_vector_refuses_another_model_or_point(model, compiled_mixture, X):
    with pytest.raises(ValueError, match="not compiled from model"):
        unconstrained_vector(compiled_mixture, build_mixture_model(X, 2), em_initial_point(X, 2))
    with pytest.raises(ValueError, match="^point has the variables"):
        unconstrained_vector(compiled_mixture, model, {"w": em_initial_point(X)["w"]})


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


def test_cached_wrappers_give_the_same_draws_as_nutpies_own(model, compiled_mixture, X):
    import nutpie

    from penguin_utils import sampling
    from penguin_utils._compile_cache import WRAPPER_NAMES

    # compile_mixture's wrappers are the module's, with Numba's disk cache switched on.
    wrappers = (compiled_mixture.compiled_logp_func, compiled_mixture.compiled_expand_func)
    assert tuple(w.__name__ for w in wrappers) == WRAPPER_NAMES
    assert all(type(w._cache).__name__ == "FunctionCache" for w in wrappers)
    with sampling._link_nutpie_wrappers_cheaply():
        own = nutpie.compile_pymc_model(model, backend="numba", initial_points=em_initial_point(X), jitter_rvs=set())
    assert own.compiled_logp_func.__name__ == "logp_numba"
    runs = [sample_mixture(c, tune=100, draws=100, chains=2, random_seed=5) for c in (compiled_mixture, own)]
    assert set(runs[0].posterior.data_vars) == set(runs[1].posterior.data_vars) >= {"w", "mu"}
    for name in runs[0].posterior.data_vars:
        np.testing.assert_array_equal(runs[0].posterior[name], runs[1].posterior[name])
    for name in ("logp", "step_size", "n_steps"):
        np.testing.assert_array_equal(runs[0].sample_stats[name], runs[1].sample_stats[name])


def test_no_initial_point_gives_nutpies_jittered_starts_and_draws():
    """initial_point=None: nutpie's own dispersed starts, through the cacheable wrappers."""
    import nutpie
    import pymc as pm

    from penguin_utils._compile_cache import WRAPPER_NAMES

    with pm.Model() as tiny:
        mu = pm.Normal("mu", shape=2)
        sd = pm.HalfNormal("sd")
        pm.Normal("x", mu[0] - mu[1], sd, observed=np.array([0.3, -1.2, 2.0]))
    dispersed = compile_mixture(tiny, initial_point=None)
    assert dispersed.compiled_logp_func.__name__ == WRAPPER_NAMES[0]
    own = nutpie.compile_pymc_model(tiny, backend="numba")

    # The unjittered default point is 0 in every unconstrained coordinate, so each start is
    # its jitter: inside (-1, 1), nowhere 0, different for every chain, and nutpie's own.
    assert all(np.all(value == 0) for value in tiny.initial_point().values())
    starts = np.array([dispersed.initial_point_func(seed) for seed in range(4)])
    assert starts.shape == (4, 3)
    assert np.all((np.abs(starts) > 0) & (np.abs(starts) < 1))
    assert len({tuple(start) for start in starts}) == 4
    np.testing.assert_array_equal(starts, [own.initial_point_func(seed) for seed in range(4)])

    runs = [nutpie.sample(c, draws=50, tune=50, chains=2, seed=6, progress_bar=False) for c in (dispersed, own)]
    for name in ("mu", "sd"):
        np.testing.assert_array_equal(runs[0].posterior[name], runs[1].posterior[name])
    first = runs[0].warmup_posterior["mu"].isel(draw=0).values
    assert not np.allclose(first[0], first[1])  # the two chains set out from different points


# Compiles a tiny model with the observations given on the command line and prints whether
# the log-density wrapper came from the disk cache, how many graphs PyTensor rewrote for it
# (a rewritten graph loaded from the disk cache is not rewritten again), its log density and
# gradient at a point, and PyMC's own for the same point (a separately compiled function).
_TINY = """
import json, sys, ctypes
import numpy as np, pymc as pm
from pytensor.compile.function.types import FunctionMaker
from penguin_utils.sampling import compile_mixture

rewritten = []
prepare = FunctionMaker.prepare_fgraph
def counted(*args, **kwargs):
    rewritten.append(args)
    return prepare(*args, **kwargs)
FunctionMaker.prepare_fgraph = staticmethod(counted)

with pm.Model() as tiny:
    sd = pm.HalfNormal("sd")
    observed = np.array(json.loads(sys.argv[1]))
    if sys.argv[2] == "data":
        observed = pm.Data("x_obs", observed)
    pm.Normal("x", 0.0, sd, observed=observed)
compiled = compile_mixture(tiny, {"sd": np.array(1.0)})
n_rewritten = len(rewritten)
f = compiled.compiled_logp_func
x, grad, logp = np.array([0.4]), np.zeros(1), np.zeros(())
p = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
code = f.ctypes(1, p(x), p(grad), p(logp), compiled.user_data.ctypes.data)
point = {"sd_log__": x[0]}
print(json.dumps({"hits": f.cache_hits, "rewritten": n_rewritten, "code": code, "logp": float(logp),
                  "grad": float(grad[0]), "pymc_logp": float(tiny.compile_logp()(point)),
                  "pymc_grad": float(tiny.compile_dlogp()(point)[0])}))
"""


def test_second_process_loads_the_wrappers_and_a_changed_model_misses(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp_path / 'pytensor'}", NUMBA_CACHE_DIR=str(tmp_path))

    def run(observed, kind):
        out = subprocess.run(
            [sys.executable, "-c", _TINY, json.dumps(observed), kind],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    # Data in a pm.Data reach the wrappers at run time: a second process with other values and
    # another length loads the first one's wrappers and gets the density of its own data.
    # Data typed in as constants change the graph, and with it the key: a miss.
    first = run([0.3, -1.2, 2.0], "data")
    second = run([0.3, -1.2, 2.5, 0.7], "data")
    changed = run([0.3, -1.2, 2.0], "constant")
    assert [first["hits"], second["hits"], changed["hits"]] == [0, 1, 0]
    # The rewritten log density and gradient too: loaded by the second, rewritten for the third.
    assert second["rewritten"] == first["rewritten"] - 1
    assert changed["rewritten"] == first["rewritten"]
    for result in (first, second, changed):
        assert result["code"] == 0
        np.testing.assert_allclose(result["logp"], result["pymc_logp"], rtol=1e-12)
        np.testing.assert_allclose(result["grad"], result["pymc_grad"], rtol=1e-12)
    assert second["logp"] != first["logp"] and changed["logp"] == first["logp"]
