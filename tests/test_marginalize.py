"""pymc-extras' automatic marginalisation against the book's hand-written mixture.

The categorical model with its labels summed out by ``pymc_extras.marginalize`` is sampled
on its own; ``recover_marginals`` then gives each penguin's cluster probabilities.  They
must agree with ``cluster_probabilities`` of the book's ``pm.Mixture`` fit up to Monte
Carlo error, which is estimated from both runs' effective sample sizes.
"""

from __future__ import annotations

import importlib
import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr

pmx = pytest.importorskip("pymc_extras")
# The locked pymc-extras 0.10 names it recover_marginals; later releases name it
# pymc_extras.marginal.recover and keep the old name only as a deprecated alias.
recover_marginals = getattr(pmx, "recover_marginals", None) or importlib.import_module("pymc_extras.marginal").recover

from penguin_utils.assign import component_logp, draw_probabilities  # noqa: E402
from penguin_utils.models import build_categorical_model, em_initial_point  # noqa: E402
from penguin_utils.relabel import align_chains  # noqa: E402
from penguin_utils.sampling import compile_mixture, sample_mixture  # noqa: E402

# Every test here compiles or samples a PyMC model.
pytestmark = pytest.mark.slow

#: Allowed |difference| in units of its Monte Carlo standard error. With ~10^3
#: penguin-cluster pairs, a correct implementation exceeds 5 standard errors somewhere with
#: probability ~10^-3 under normal errors; a wrong one (e.g. weights left out, or
#: normalised over all penguins) misses by tens to hundreds of standard errors.
N_SIGMA = 5.0
#: Absolute floor, far below any probability a reader would act on. It covers the far tails
#: (probabilities of 1e-4 to 1e-2), where a few draws dominate each average, so the
#: effective-sample-size estimate of the standard error, a normal approximation, is too small.
FLOOR = 1e-3
#: Kept draws per chain of the marginalised model, after TUNE tuning steps: its automatically
#: derived likelihood costs about 10 ms per gradient, so the run is short.
DRAWS = 100
TUNE = 100


def _per_draw_probabilities(logp: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (clusters), for log-densities made up here (no weights)."""
    p = np.exp(logp - logp.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def _mean_and_mcse(per_draw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over (chain, draw) and its Monte Carlo standard error, per penguin and cluster."""
    draws = xr.Dataset({"p": (("chain", "draw", "penguin", "cluster"), per_draw)})
    # a probability that is 0 or 1 in every draw has no variance: ArviZ warns and returns NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mcse = az.mcse(draws, method="mean")["p"].to_numpy()
    return per_draw.mean(axis=(0, 1)), np.nan_to_num(mcse)


@pytest.fixture(scope="module")
def runs(X, book_fit):
    """The book's fit and the marginalised categorical model's, labels aligned to the book's."""
    book = book_fit
    marginal = pmx.marginalize(build_categorical_model(X), ["z"])
    compiled = compile_mixture(marginal, em_initial_point(X, random_seed=1))
    sampled = sample_mixture(compiled, draws=DRAWS, tune=TUNE, chains=2, random_seed=1)
    reference = book.posterior["mu"].mean(("chain", "draw")).to_numpy()
    aligned = align_chains(sampled, reference=reference)
    recovered = recover_marginals(
        aligned, model=marginal, var_names=["z"], return_samples=False, extend_inferencedata=False
    )
    return book, aligned, recovered


def test_recover_marginals_is_bayes_rule_on_the_same_draws(runs, X):
    _, aligned, recovered = runs
    lp_z = recovered["lp_z"].transpose("chain", "draw", "penguin", ...).to_numpy()
    ours = draw_probabilities(aligned, X).to_numpy()
    assert lp_z.shape == ours.shape == (2, DRAWS, len(X), 3)
    np.testing.assert_allclose(np.exp(lp_z), ours, atol=1e-9)


def test_recovered_probabilities_agree_with_book_fit_within_monte_carlo_error(runs, X):
    book, _, recovered = runs
    theirs, theirs_se = _mean_and_mcse(np.exp(recovered["lp_z"].transpose("chain", "draw", "penguin", ...).to_numpy()))
    ours, ours_se = _mean_and_mcse(draw_probabilities(book, X).to_numpy())
    tolerance = N_SIGMA * np.hypot(theirs_se, ours_se) + FLOOR
    difference = np.abs(theirs - ours)
    worst = np.unravel_index(np.argmax(difference / tolerance), difference.shape)
    print(
        f"largest |difference| {difference.max():.4f}; largest share of tolerance {(difference / tolerance).max():.2f}"
    )
    assert (difference <= tolerance).all(), (
        f"penguin {X.index[worst[0]]}, cluster {worst[1]}: |difference| {difference[worst]:.4f} "
        f"exceeds {N_SIGMA} Monte Carlo standard errors ({tolerance[worst]:.4f})"
    )
    np.testing.assert_array_equal(theirs.argmax(axis=1), ours.argmax(axis=1))
    # The tolerance has teeth: the blog post's mistake, leaving the weights out of Bayes'
    # rule, lies outside it.
    log_w = np.log(book.posterior["w"].transpose("chain", "draw", "cluster").to_numpy())[:, :, None, :]
    no_weights = _per_draw_probabilities(component_logp(book, X).to_numpy() - log_w).mean(axis=(0, 1))
    assert (np.abs(theirs - no_weights) > tolerance).any()
