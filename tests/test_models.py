import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from pymc.initial_point import make_initial_point_fn

from penguin_utils.data import FEATURES
from penguin_utils.models import (
    DATA_NAME,
    PriorSettings,
    build_categorical_model,
    build_mixture_model,
    describe_model,
    em_initial_point,
    sparse_initial_point,
)

#: Values only: PyTensor's Python implementations, no C or Numba compilation (which the
#: chapters and the sampling tests exercise).
MODE = "FAST_COMPILE"

SHARED = ["w", "mu", "chol_packed_0", "chol_packed_1", "chol_packed_2"]


@pytest.fixture(scope="module")
def models(X):
    return build_mixture_model(X), build_categorical_model(X)


def test_both_models_expose_the_same_named_variables(models, X):
    for model in models:
        assert [rv.name for rv in model.free_RVs if rv.name != "z"] == SHARED
        assert model.named_vars_to_dims["w"] == ("cluster",)
        assert model.named_vars_to_dims["mu"] == ("cluster", "feature")
        assert model.named_vars_to_dims["chol"] == ("cluster", "feature", "feature_")
        assert model.named_vars_to_dims["x"] == ("penguin", "feature")
        assert list(model.coords["feature"]) == list(FEATURES)
        np.testing.assert_array_equal(model.coords["penguin"], X.index)
    assert models[1].named_vars_to_dims["z"] == ("penguin",)


@pytest.mark.slow
def test_shared_priors_have_the_same_log_density(models, X):
    mixture, categorical = models
    point = em_initial_point(X)
    values = {}
    for model in models:
        ip = _transformed_point(model, point)
        values[model] = [float(model.compile_logp(vars=[model[name]], mode=MODE)(ip)) for name in SHARED]
    np.testing.assert_allclose(values[mixture], values[categorical], rtol=1e-12)
    assert np.all(np.isfinite(values[mixture]))


@pytest.mark.slow
def test_fused_likelihood_equals_pm_mixture(models, pm_mixture, X):
    """Value and gradient of the fused model equal those PyMC derives from pm.Mixture."""
    fused = models[0]
    assert type(pm_mixture.model["x"].owner.op).__name__ == "MixtureRV"
    point = em_initial_point(X)
    ours = fused.compile_logp(mode=MODE), fused.compile_dlogp(mode=MODE)
    theirs = pm_mixture.logp, pm_mixture.dlogp
    for shift in [0.0, 0.3]:
        moved = {**point, "mu": point["mu"] + shift}
        ip = _transformed_point(fused, moved)
        got = ours[0](ip), ours[1](ip)
        expected = theirs[0](ip), theirs[1](ip)
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-9, atol=1e-9)


def _transformed_point(model, point):
    """``point`` (constrained values) in the model's unconstrained value space."""
    return make_initial_point_fn(model=model, overrides=point, jitter_rvs=set(), return_transformed=True)(0)


@pytest.mark.slow
def test_prior_predictive_draws_from_the_mixture(X):
    model = build_mixture_model(X.iloc[:40])
    with model:
        prior = pm.sample_prior_predictive(draws=5, random_seed=1)
    assert prior.prior_predictive["x"].shape == (1, 5, 40, 4)
    assert prior.prior["chol"].shape == (1, 5, 3, 4, 4)
    np.testing.assert_array_equal(np.triu(prior.prior["chol"].values, 1), 0)


def test_n_clusters_sets_the_cluster_dim(X):
    model = build_mixture_model(X, n_clusters=2)
    assert list(model.coords["cluster"]) == [0, 1]
    assert [rv.name for rv in model.free_RVs] == ["w", "mu", "chol_packed_0", "chol_packed_1"]


def test_array_input_gets_a_range_index(X):
    model = build_mixture_model(X.to_numpy())
    np.testing.assert_array_equal(model.coords["penguin"], np.arange(len(X)))


@pytest.mark.parametrize("build", [build_mixture_model, build_categorical_model, em_initial_point])
def test_bad_input_is_refused(build, penguins, X):
    with pytest.raises(ValueError, match="looks unscaled"):
        build(penguins[list(FEATURES)])
    with pytest.raises(ValueError, match="not features"):
        build(X.assign(extra=0.0))
    with pytest.raises(ValueError, match=r"shape \(n_penguins, 4\)"):
        build(X.to_numpy()[:, :3])
    nan = X.copy()
    nan.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        build(nan)
    with pytest.raises(ValueError, match="positive integer"):
        build(X, n_clusters=0)
    with pytest.raises(ValueError, match="more than the 2 penguins"):
        build(X.iloc[:2], n_clusters=3)


def test_prior_settings_must_be_positive():
    with pytest.raises(ValueError, match="lkj_eta must be a positive number"):
        PriorSettings(lkj_eta=0)
    assert "mu_sigma=1.5" in repr(PriorSettings())


@pytest.mark.slow
def test_gamma_prior_on_the_standard_deviations_matches_scipy(X):
    """Switching the sd prior changes the log-density by SciPy's Gamma minus HalfNormal, nothing else."""
    from pymc.model.transform.conditioning import remove_value_transforms
    from scipy import stats

    settings = {"sd_prior": "gamma", "sd_shape": 5.0, "sd_sigma": 0.5}
    gamma, halfnormal = build_mixture_model(X, priors=settings), build_mixture_model(X, priors={"sd_sigma": 0.5})
    point = em_initial_point(X)
    logp = [remove_value_transforms(m).compile_logp(mode=MODE)(point) for m in (gamma, halfnormal)]
    rows, cols = np.tril_indices(len(FEATURES))
    sds = []
    for k in range(3):
        chol = np.zeros((len(FEATURES), len(FEATURES)))
        chol[rows, cols] = point[f"chol_packed_{k}"]
        sds.append(np.linalg.norm(chol, axis=1))
    sds = np.concatenate(sds)
    expected = stats.gamma(5.0, scale=0.5 / 5.0).logpdf(sds) - stats.halfnorm(scale=0.5).logpdf(sds)
    # PyTensor's log-gamma function differs from SciPy's by about 6e-7 per call (12 sds here).
    np.testing.assert_allclose(logp[0] - logp[1], expected.sum(), atol=1e-5)
    with pytest.raises(ValueError, match="sd_prior must be one of"):
        PriorSettings(sd_prior="uniform")


@pytest.mark.slow
def test_ordered_means_are_the_same_prior_restricted_to_increasing_means(X):
    ordered = build_mixture_model(X, ordered="bill_length_mm")
    assert [rv.name for rv in ordered.free_RVs][:3] == ["w", "mu_bill_length_mm", "mu_other"]
    assert ordered.named_vars_to_dims["mu"] == ("cluster", "feature")
    # Forward draws ignore transforms; the sampler moves in the unconstrained space, where
    # every point maps to increasing means.
    transform = ordered.rvs_to_transforms[ordered["mu_bill_length_mm"]]
    unconstrained = np.random.default_rng(0).normal(0, 2, size=(50, 3))
    means = transform.backward(pt.as_tensor(unconstrained)).eval()
    assert np.all(np.diff(means, axis=1) > 0)
    # At increasing means the densities of the parameters (no Jacobians) are equal: the
    # constraint only cuts.
    point = em_initial_point(X)
    unordered = build_mixture_model(X)
    unordered_logp = unordered.compile_logp(jacobian=False, mode=MODE)(_transformed_point(unordered, point))
    others = [j for j, f in enumerate(FEATURES) if f != "bill_length_mm"]
    split = {**point, "mu_bill_length_mm": point["mu"][:, 0], "mu_other": point["mu"][:, others]}
    del split["mu"]
    ordered_logp = ordered.compile_logp(jacobian=False, mode=MODE)(_transformed_point(ordered, split))
    np.testing.assert_allclose(ordered_logp, unordered_logp, rtol=1e-12)
    with pytest.raises(ValueError, match="not a feature"):
        build_mixture_model(X, ordered="beak")


def test_em_initial_point_is_ordered_and_reproducible(X):
    a, b = em_initial_point(X), em_initial_point(X)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert np.all(np.diff(a["mu"][:, 0]) > 0)
    np.testing.assert_allclose(a["w"].sum(), 1)
    assert a["chol_packed_0"].shape == (10,)


def test_sparse_initial_point_is_em_plus_spare_components_at_the_centre(X):
    point = sparse_initial_point(X, 10, 3, random_seed=1)
    em3 = em_initial_point(X, 3, random_seed=1)
    assert set(point) == {"w", "mu", *(f"chol_packed_{k}" for k in range(10))}
    np.testing.assert_allclose(point["w"], [*(0.97 * em3["w"]), *[0.03 / 7] * 7], rtol=1e-15)
    np.testing.assert_allclose(point["w"].sum(), 1, rtol=1e-15)
    np.testing.assert_array_equal(point["mu"][:3], em3["mu"])
    np.testing.assert_array_equal(point["mu"][3:], 0)
    for k in range(3):
        np.testing.assert_array_equal(point[f"chol_packed_{k}"], em3[f"chol_packed_{k}"])
    rows, cols = np.tril_indices(4)
    for k in range(3, 10):
        chol = np.zeros((4, 4))
        chol[rows, cols] = point[f"chol_packed_{k}"]
        np.testing.assert_array_equal(chol @ chol.T, np.eye(4))
    # the point is one of the model's: finite log-density, nothing missing
    model = build_mixture_model(X, 10, priors={"dirichlet_alpha": 0.1, "sd_prior": "gamma"})
    # per variable: the Python implementation of a 34-term sum exceeds NumPy's 32 ufunc inputs
    logps = model.compile_logp(jacobian=False, sum=False, mode=MODE)(_transformed_point(model, point))
    assert len(logps) == 13 and all(np.isfinite(logp).all() for logp in logps)


def test_sparse_initial_point_refuses_a_start_without_spare_components(X):
    with pytest.raises(ValueError, match="no spare component"):
        sparse_initial_point(X, 3, 3)
    with pytest.raises(ValueError, match="spare_weight"):
        sparse_initial_point(X, 10, 3, spare_weight=1.0)
    with pytest.raises(ValueError, match="n_clusters must be a positive integer"):
        sparse_initial_point(X, 0)


def test_describe_model_lists_every_variable(models):
    mixture, categorical = models
    table = describe_model(categorical)
    assert list(table.index) == [*SHARED, "z", "chol", "x"]
    assert table.loc["z", "role"] == "free" and table.loc["z", "distribution"] == "categorical"
    assert table.loc["chol", "role"] == "deterministic"
    assert table.loc["x", "dims"] == "(penguin=342, feature=4)"
    assert table.loc["chol_packed_0", "dims"] == "(10,)"
    mixture_table = describe_model(mixture)
    assert "z" not in mixture_table.index
    # the measurements the observed x comes from, in pm.Data that nutpie can swap
    assert mixture_table.loc[DATA_NAME, "role"] == "data" and mixture_table.loc[DATA_NAME, "distribution"] == ""
    assert mixture_table.loc[DATA_NAME, "dims"] == "(penguin=342, feature=4)"
    assert DATA_NAME not in table.index  # the categorical model takes its values as constants
