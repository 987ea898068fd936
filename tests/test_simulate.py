"""penguin_utils.simulate against NumPy, SciPy and hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from penguin_utils.data import FEATURES
from penguin_utils.models import build_categorical_model, build_mixture_model
from penguin_utils.simulate import (
    DATA_NAME,
    binomial_interval,
    interval_coverage,
    mixture_parameters,
    parameter_index,
    simulate_mixture,
    with_dataset,
)

MODE = "FAST_COMPILE"


@pytest.fixture(scope="module")
def truth():
    """Three clusters in four dimensions with unequal weights and correlated covariances."""
    rng = np.random.default_rng(3)
    w = np.array([0.5, 0.3, 0.2])
    mu = rng.normal(0, 1.5, size=(3, 4))
    chol = np.tril(rng.normal(0, 0.3, size=(3, 4, 4)))
    chol[:, np.arange(4), np.arange(4)] = rng.uniform(0.4, 1.0, size=(3, 4))
    return w, mu, chol


def test_simulated_clusters_have_the_weights_means_and_covariances(truth):
    w, mu, chol = truth
    n = 60_000
    X, labels = simulate_mixture(w, mu, chol, n, random_seed=1)
    assert X.shape == (1, n, 4) and labels.shape == (1, n)
    X, labels = X[0], labels[0]
    counts = np.bincount(labels, minlength=3)
    # each count is binomial(n, w_k): within 5 standard deviations
    assert np.all(np.abs(counts - n * w) < 5 * np.sqrt(n * w * (1 - w)))
    for k in range(3):
        cluster = X[labels == k]
        cov = chol[k] @ chol[k].T
        se = np.sqrt(np.diag(cov) / len(cluster))
        assert np.all(np.abs(cluster.mean(axis=0) - mu[k]) < 5 * se)
        np.testing.assert_allclose(np.cov(cluster, rowvar=False), cov, atol=0.05)
        # one projection against SciPy's normal: the whole distribution, not just moments
        a = np.array([1.0, -0.5, 0.25, 2.0])
        reference = stats.norm(a @ mu[k], np.sqrt(a @ cov @ a))
        assert stats.kstest(cluster @ a, reference.cdf).pvalue > 0.001


def test_simulated_mixture_has_the_mixture_moments(truth):
    w, mu, chol = truth
    X, _ = simulate_mixture(w, mu, chol, 40_000, random_seed=2)
    cov = chol @ np.swapaxes(chol, -1, -2)
    mean = w @ mu
    # law of total covariance: E[Sigma_z] + Cov[mu_z]
    total = np.einsum("k,kij->ij", w, cov) + np.einsum("k,ki,kj->ij", w, mu - mean, mu - mean)
    np.testing.assert_allclose(X[0].mean(axis=0), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(X[0], rowvar=False), total, atol=0.1)


def test_data_sets_are_seeded_and_distinct(truth):
    a, la = simulate_mixture(*truth, 50, n_datasets=3, random_seed=7)
    b, lb = simulate_mixture(*truth, 50, n_datasets=3, random_seed=7)
    c, _ = simulate_mixture(*truth, 50, n_datasets=3, random_seed=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert a.shape == (3, 50, 4) and not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w, mu, chol: (w * 2, mu, chol), "summing to 1"),
        (lambda w, mu, chol: (w, mu[:2], chol), "disagree"),
        (lambda w, mu, chol: (w, mu, np.swapaxes(chol, -1, -2)), "lower Cholesky"),
        (lambda w, mu, chol: (w, mu[None], chol), "shapes"),
        (lambda w, mu, chol: (w, mu * np.nan, chol), "finite"),
    ],
    ids=["weights", "clusters", "upper-triangular", "draws", "nan"],
)
def test_bad_parameters_are_refused(truth, change, message):
    with pytest.raises(ValueError, match=message):
        simulate_mixture(*change(*truth), 10)


def test_counts_must_be_positive_integers(truth):
    with pytest.raises(ValueError, match="n_penguins"):
        simulate_mixture(*truth, 0)
    with pytest.raises(ValueError, match="n_datasets"):
        simulate_mixture(*truth, 10, n_datasets=1.5)


def test_parameters_by_hand():
    sigma = np.array([[4.0, 1.2, 0.0], [1.2, 1.0, -0.3], [0.0, -0.3, 9.0]])
    chol = np.linalg.cholesky(sigma)[None]
    values = mixture_parameters(np.array([1.0]), np.array([[1.0, 2.0, 3.0]]), chol)
    # corr(a, b) = 1.2 / (2 * 1), corr(a, c) = 0, corr(b, c) = -0.3 / (1 * 3)
    np.testing.assert_allclose(values, [1.0, 1.0, 2.0, 3.0, 2.0, 1.0, 3.0, 0.6, 0.0, -0.1], atol=1e-12)
    index = parameter_index(1, ["a", "b", "c"])
    assert list(index) == [
        ("w", 0, ""),
        ("mu", 0, "a"),
        ("mu", 0, "b"),
        ("mu", 0, "c"),
        ("sd", 0, "a"),
        ("sd", 0, "b"),
        ("sd", 0, "c"),
        ("corr", 0, "a ~ b"),
        ("corr", 0, "a ~ c"),
        ("corr", 0, "b ~ c"),
    ]


def test_parameters_keep_leading_dims_and_match_numpy(truth):
    w, mu, chol = truth
    draws = [np.broadcast_to(v, (2, 5, *v.shape)) for v in truth]
    values = mixture_parameters(*draws)
    index = parameter_index(3)
    assert values.shape == (2, 5, len(index)) == (2, 5, 45)
    cov = chol @ np.swapaxes(chol, -1, -2)
    for k in range(3):
        corr = cov[k] / np.sqrt(np.outer(np.diag(cov[k]), np.diag(cov[k])))
        for (group, cluster, name), value in zip(index, values[1, 4], strict=True):
            if cluster != k:
                continue
            if group == "w":
                assert value == w[k]
            elif group == "mu":
                assert value == mu[k, FEATURES.index(name)]
            elif group == "sd":
                assert np.isclose(value, np.sqrt(cov[k, FEATURES.index(name), FEATURES.index(name)]))
            else:
                a, b = name.split(" ~ ")
                assert np.isclose(value, corr[FEATURES.index(a), FEATURES.index(b)])


def test_coverage_by_hand():
    draws = np.arange(101, dtype=float)[None, :, None].repeat(4, axis=2)  # 0, 1, ..., 100
    # the central half of 0..100 runs from 25 to 75, ends included
    truth = np.array([24.9, 25.0, 75.0, 75.1])
    np.testing.assert_array_equal(interval_coverage(draws, truth, mass=0.5), [[False, True, True, False]])
    np.testing.assert_array_equal(interval_coverage(draws, truth, mass=0.9), [[True, True, True, True]])


def test_coverage_is_a_loop_over_data_sets_and_parameters():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(6, 200, 5))
    truth = rng.normal(size=(6, 5))
    got = interval_coverage(draws, truth)
    for d in range(6):
        for p in range(5):
            low, high = np.quantile(draws[d, :, p], [0.03, 0.97])
            assert got[d, p] == (low <= truth[d, p] <= high)
    # one truth for all data sets broadcasts
    np.testing.assert_array_equal(
        interval_coverage(draws, truth[0]), interval_coverage(draws, np.tile(truth[0], (6, 1)))
    )


def test_calibrated_draws_cover_at_the_nominal_rate():
    # truths drawn from the very distribution of the draws: coverage is the mass
    rng = np.random.default_rng(1)
    draws = rng.normal(size=(400, 1000, 5))
    truth = rng.normal(size=(400, 5))
    hits = interval_coverage(draws, truth, mass=0.8)
    low, high = binomial_interval(int(hits.sum()), hits.size, level=0.99)
    assert low < 0.8 < high


@pytest.mark.parametrize(
    ("draws", "truth", "mass", "message"),
    [
        (np.zeros((2, 10)), np.zeros(10), 0.94, "shape"),
        (np.zeros((2, 10, 3)), np.zeros(4), 0.94, "truth must have shape"),
        (np.zeros((2, 10, 3)), np.zeros(3), 1.0, "mass"),
        (np.full((2, 10, 3), np.nan), np.zeros(3), 0.94, "finite"),
    ],
)
def test_coverage_refuses_bad_input(draws, truth, mass, message):
    with pytest.raises(ValueError, match=message):
        interval_coverage(draws, truth, mass=mass)


@pytest.mark.parametrize(("hits", "trials"), [(0, 10), (3, 10), (10, 10), (512, 540), (1, 1)])
def test_binomial_interval_is_scipys_clopper_pearson(hits, trials):
    low, high = binomial_interval(hits, trials, level=0.95)
    ci = stats.binomtest(hits, trials).proportion_ci(confidence_level=0.95, method="exact")
    np.testing.assert_allclose([low, high], [ci.low, ci.high], atol=1e-12)


def test_binomial_interval_is_vectorised_and_checks_counts():
    low, high = binomial_interval(np.array([1, 5]), 10)
    assert low.shape == high.shape == (2,) and np.all(low < high)
    with pytest.raises(ValueError, match="hits <= trials"):
        binomial_interval(11, 10)
    with pytest.raises(TypeError, match="integer"):
        binomial_interval(0.5, 10)
    with pytest.raises(ValueError, match="level"):
        binomial_interval(1, 10, level=95)


def test_book_model_holds_its_data_in_pm_data_that_can_be_swapped(X):
    model = build_mixture_model(X)
    assert model.named_vars_to_dims[DATA_NAME] == model.named_vars_to_dims["x"] == ("penguin", "feature")
    np.testing.assert_array_equal(model[DATA_NAME].get_value(), X.to_numpy())
    point = model.initial_point()
    rng = np.random.default_rng(0)
    point = {name: value + rng.normal(0, 0.3, size=value.shape) for name, value in point.items()}
    # new data through pm.Data: the same density as a model built on those data
    other = X.iloc[::-1].to_numpy() * 0.9
    model.set_data(DATA_NAME, other)
    rebuilt = build_mixture_model(other).compile_logp(mode=MODE)
    np.testing.assert_allclose(model.compile_logp(mode=MODE)(point), rebuilt(point), rtol=1e-12)


def test_with_dataset_refuses_other_models_and_sizes(X):
    with pytest.raises(ValueError, match="no pm.Data named 'x_obs'"):
        with_dataset(None, build_categorical_model(X), X)
    with pytest.raises(ValueError, match="shape"):
        with_dataset(None, build_mixture_model(X), X.iloc[:100])
