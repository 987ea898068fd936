import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from penguin_utils.data import SPECIES
from penguin_utils.models import build_mixture_model
from penguin_utils.semisupervised import (
    build_labelled_mixture_model,
    labelled_data,
    labelled_initial_point,
    pick_labelled,
    species_labels,
)

#: Values only: PyTensor's Python implementations, no C or Numba compilation.
MODE = "FAST_COMPILE"


@pytest.fixture(scope="module")
def species(penguins):
    return penguins["species"]


def test_pick_labelled_picks_n_of_each_species_reproducibly(species):
    labels = pick_labelled(species, 5, random_seed=3)
    assert labels.index.equals(species.index)
    known = labels.dropna()
    assert len(known) == 15
    for k, name in enumerate(SPECIES):
        assert (known == k).sum() == 5
        assert (species[known.index[known == k]] == name).all()
    pd.testing.assert_series_equal(labels, pick_labelled(species, 5, random_seed=3))
    assert not labels.equals(pick_labelled(species, 5, random_seed=4))
    assert pick_labelled(species, 0).isna().all()


def test_pick_labelled_refuses_impossible_counts(species):
    with pytest.raises(ValueError, match="more than the 68 Chinstrap"):
        pick_labelled(species, 69)
    with pytest.raises(ValueError, match="0 or more"):
        pick_labelled(species, -1)


def test_species_labels_refuses_unknown_penguins_and_species(species):
    with pytest.raises(ValueError, match="does not have"):
        species_labels(species, [10_000])
    with pytest.raises(ValueError, match="not in order"):
        species_labels(species, species.index[species != "Adelie"][:1], order=["Adelie"])


def test_labels_must_be_aligned_component_indices(X, species):
    labels = pick_labelled(species, 2)
    with pytest.raises(ValueError, match="indexed by different penguins"):
        labelled_data(X, labels.iloc[1:])
    with pytest.raises(ValueError, match="not species names"):
        labelled_data(X, species.astype(str))
    with pytest.raises(ValueError, match="component indices 0 to 2"):
        labelled_data(X, labels.fillna(3))
    with pytest.raises(TypeError, match="pandas Series"):
        labelled_data(X, labels.to_numpy())


def test_labelled_data_splits_the_penguins(X, species):
    labels = pick_labelled(species, 2, random_seed=1)
    data = labelled_data(X, labels)
    assert data["x_unlabelled"].shape == (342 - 6, 4)
    np.testing.assert_array_equal(data["x_labelled_2"], X.loc[labels.index[labels == 2]].to_numpy())
    # -1 means unknown too, and a component without labels gets an empty array
    none = labelled_data(X, pd.Series(-1, index=X.index))
    assert none["x_unlabelled"].shape == (342, 4) and none["x_labelled_0"].shape == (0, 4)


def _values(model):
    """The model's start in its unconstrained space, and w, mu, chol there."""
    point = model.initial_point()
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0, 0.2, size=v.shape) for k, v in point.items()}
    outputs = model.replace_rvs_by_values([model["w"], model["mu"], model["chol"]])
    w, mu, chol = model.compile_fn(outputs, inputs=model.value_vars, mode=MODE)(point)
    return point, w, mu, chol


def test_likelihood_is_the_labelled_components_plus_the_mixture(X, species):
    """The likelihood terms against SciPy, penguin by penguin."""
    labels = pick_labelled(species, 3, random_seed=2)
    model = build_labelled_mixture_model(X, labels)
    point, w, mu, chol = _values(model)
    got = model.compile_logp(vars=model.potentials, sum=False, mode=MODE)(point)
    comp = np.column_stack(
        [np.log(w[k]) + multivariate_normal(mu[k], chol[k] @ chol[k].T).logpdf(X.to_numpy()) for k in range(3)]
    )
    known = labels.notna().to_numpy()
    expected = [logsumexp(comp[~known], axis=1).sum()]
    expected += [comp[labels.to_numpy() == k, k].sum() for k in range(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_without_labels_it_is_chapter_3s_model(X):
    ours = build_labelled_mixture_model(X, pd.Series(np.nan, index=X.index))
    theirs = build_mixture_model(X)
    point, *_ = _values(theirs)
    np.testing.assert_allclose(ours.compile_logp(mode=MODE)(point), theirs.compile_logp(mode=MODE)(point), rtol=1e-12)
    np.testing.assert_allclose(
        ours.compile_dlogp(mode=MODE)(point), theirs.compile_dlogp(mode=MODE)(point), rtol=1e-9, atol=1e-9
    )


def test_labels_break_the_symmetry_between_components(X, species):
    """Swapping two components leaves the mixture's density alone but not the labelled model's."""
    labels = pick_labelled(species, 1, random_seed=0)
    labelled = build_labelled_mixture_model(X, labels)
    plain = build_labelled_mixture_model(X, pd.Series(np.nan, index=X.index))
    point, *_ = _values(plain)
    swapped = dict(point)
    for name in ("w_simplex__", "mu"):
        assert name in point
    swapped["mu"] = point["mu"][[1, 0, 2]]
    swapped["chol_packed_0_cholesky-cov-packed__"] = point["chol_packed_1_cholesky-cov-packed__"]
    swapped["chol_packed_1_cholesky-cov-packed__"] = point["chol_packed_0_cholesky-cov-packed__"]
    # the weights' stick-breaking transform is not a simple permutation: set them equal
    swapped["w_simplex__"] = point["w_simplex__"] = np.zeros_like(point["w_simplex__"])
    logp = [m.compile_logp(mode=MODE) for m in (plain, labelled)]
    np.testing.assert_allclose(logp[0](point), logp[0](swapped), rtol=1e-12)
    assert abs(logp[1](point) - logp[1](swapped)) > 1e-3


def test_initial_point_numbers_components_by_label(X, species):
    labels = pick_labelled(species, 2, random_seed=0)
    point = labelled_initial_point(X, labels)
    means = X.groupby(species, observed=True).mean().loc[list(SPECIES)].to_numpy()
    nearest = np.linalg.norm(point["mu"][:, None] - means[None], axis=-1).argmin(axis=1)
    np.testing.assert_array_equal(nearest, [0, 1, 2])
    assert set(point) == {"w", "mu", "chol_packed_0", "chol_packed_1", "chol_packed_2"}
