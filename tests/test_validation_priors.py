"""priors= of the model builders: a PriorSettings or a mapping of its fields, checked."""

import dataclasses

import numpy as np
import pytest

from penguin_utils.models import PriorSettings, build_categorical_model, build_mixture_model

#: Values only: PyTensor's Python implementations, no C or Numba compilation (which the
#: chapters and the sampling tests exercise).
MODE = "FAST_COMPILE"


def _logp_at(model, point):
    return float(model.compile_logp(mode=MODE)(point))


def test_defaults_and_frozen():
    priors = PriorSettings()
    assert (priors.mu_sigma, priors.sd_sigma, priors.lkj_eta, priors.dirichlet_alpha) == (1.5, 1.0, 2.0, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        priors.mu_sigma = 3.0
    assert PriorSettings(mu_sigma=2) == PriorSettings(mu_sigma=2.0)
    assert isinstance(PriorSettings(mu_sigma=np.int64(2)).mu_sigma, float)


@pytest.mark.slow
@pytest.mark.parametrize("build", [build_mixture_model, build_categorical_model])
def test_a_mapping_gives_the_same_model_as_the_dataclass(X, build):
    small = X.iloc[:40]
    default_model = build(small)
    # every model at the default model's start (its initial point is compiled once, not per model)
    point = default_model.initial_point()
    from_mapping = _logp_at(build(small, priors={"mu_sigma": 0.5, "lkj_eta": 3}), point)
    from_class = _logp_at(build(small, priors=PriorSettings(mu_sigma=0.5, lkj_eta=3.0)), point)
    default = _logp_at(default_model, point)
    assert from_mapping == from_class
    assert from_mapping != default
    assert _logp_at(build(small, priors=None), point) == _logp_at(build(small, priors={}), point) == default


@pytest.mark.parametrize(
    "priors, error, message",
    [
        ({"mu_sd": 1.0}, ValueError, r"unknown setting\(s\) \['mu_sd'\]; the settings are \['mu_sigma'"),
        ({"mu_sigma": "1.5"}, TypeError, r"PriorSettings.mu_sigma must be a number, got str '1.5'"),
        ({"lkj_eta": True}, TypeError, r"lkj_eta must be a number, got bool"),
        ({"sd_sigma": -1.0}, ValueError, r"sd_sigma must be a positive number, got -1.0"),
        ({"dirichlet_alpha": np.nan}, ValueError, r"dirichlet_alpha must be a positive number, got nan"),
        ([1.5, 1.0], TypeError, r"priors must be a PriorSettings or a mapping .*got list"),
        (1.5, TypeError, r"got float"),
    ],
    ids=["unknown-key", "string", "bool", "negative", "nan", "list", "float"],
)
def test_bad_priors_get_a_clear_message(X, priors, error, message):
    for build in (build_mixture_model, build_categorical_model):
        with pytest.raises(error, match=message):
            build(X.iloc[:10], priors=priors)
