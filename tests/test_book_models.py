"""The models the chapters show are the models the package builds.

Chapters 2, 3, 13, 14, 15 and 16 define their model on the page, in a cell tagged ``model-definition``.
Each such cell is run here on the real data and compared with the package's builder:
the same variables with the same dims, and the same log-density and gradient at several
points of the parameter space.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

from penguin_utils.models import build_categorical_model, build_mixture_model
from penguin_utils.sex import build_sex_mixture_model

# Every test here compiles a PyMC model.
pytestmark = pytest.mark.slow

BOOK = Path(__file__).resolve().parents[1] / "book"
TAG = "model-definition"


def chapter_model(chapter: str, X, **data) -> pm.Model:
    """Run the chapter's tagged cells with only the names they may use (and ``data``) and return its ``model``."""
    nb = nbformat.read(BOOK / chapter, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{chapter} should define its model in exactly one cell tagged {TAG!r}"
    namespace = {"np": np, "pm": pm, "pt": pt, "X": X, **data}
    exec(compile(cells[0], f"{chapter}:{TAG}", "exec"), namespace)
    return namespace["model"]


def _same_structure(ours: pm.Model, theirs: pm.Model) -> None:
    assert [v.name for v in ours.value_vars] == [v.name for v in theirs.value_vars]
    assert [v.name for v in ours.deterministics] == [v.name for v in theirs.deterministics]
    assert [v.name for v in ours.observed_RVs] == [v.name for v in theirs.observed_RVs]
    assert ours.named_vars_to_dims == theirs.named_vars_to_dims
    for name, values in theirs.coords.items():
        np.testing.assert_array_equal(np.asarray(ours.coords[name]), np.asarray(values))


def _same_density(ours: pm.Model, theirs: pm.Model, compiled=None) -> None:
    """The same log-density and gradient at the builder's start and random moves from it.

    ``compiled``: ``theirs``'s FAST_COMPILE log-density and gradient when a fixture has them.
    """
    assert [p.name for p in ours.potentials] == [p.name for p in theirs.potentials]
    if compiled is None:
        compiled = theirs.compile_logp(mode="FAST_COMPILE"), theirs.compile_dlogp(mode="FAST_COMPILE")
    logp = [ours.compile_logp(mode="FAST_COMPILE"), compiled[0]]
    dlogp = [ours.compile_dlogp(mode="FAST_COMPILE"), compiled[1]]
    for point in _points(theirs):
        values = [f(point) for f in logp]
        assert np.isfinite(values[1])
        np.testing.assert_allclose(values[0], values[1], rtol=1e-12)
        np.testing.assert_allclose(dlogp[0](point), dlogp[1](point), rtol=1e-9, atol=1e-9)


def _points(model: pm.Model, n_points: int = 4, seed: int = 0) -> list[dict]:
    """The model's initial point and random moves away from it, in its unconstrained space."""
    rng = np.random.default_rng(seed)
    base = model.initial_point()
    points = [base]
    for _ in range(n_points - 1):
        points.append(
            {
                name: rng.integers(0, 3, size=value.shape)  # the labels z
                if np.issubdtype(value.dtype, np.integer)
                else value + rng.normal(0, 0.3, size=value.shape)
                for name, value in base.items()
            }
        )
    return points


@pytest.mark.parametrize(
    ("chapter", "builder"),
    [
        ("02_categorical.ipynb", lambda X: build_categorical_model(X)),
        ("16_simulation_check.ipynb", lambda X: build_mixture_model(X)),
    ],
    ids=["chapter-2-categorical", "chapter-16-simulation"],
)
def test_chapter_model_equals_package_builder(chapter, builder, X):
    ours, theirs = chapter_model(chapter, X), builder(X)
    _same_structure(ours, theirs)
    _same_density(ours, theirs)


def test_chapter_3_mixture_equals_package_builder(X, pm_mixture):
    """Chapter 3's pm.Mixture model against ``build_mixture_model(X, fused_logp=False)``,
    compiled once per session (``pm_mixture``, which test_models also uses)."""
    ours = chapter_model("03_mixture.ipynb", X)
    _same_structure(ours, pm_mixture.model)
    _same_density(ours, pm_mixture.model, compiled=(pm_mixture.logp, pm_mixture.dlogp))


def test_chapter_15_sparse_model_equals_package_builder(X):
    """Chapter 15's sparse K = 10 mixture (fused density) against the builder's."""
    from penguin_utils.mixture_logp import mvnormal_mixture_logp

    nb = nbformat.read(BOOK / "15_choosing_k.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1
    namespace = {"np": np, "pm": pm, "pt": pt, "X": X, "mvnormal_mixture_logp": mvnormal_mixture_logp}
    exec(compile(cells[0], f"15_choosing_k.ipynb:{TAG}", "exec"), namespace)
    ours = namespace["model"]
    theirs = build_mixture_model(X, 10, priors={"dirichlet_alpha": 0.1, "sd_prior": "gamma"})
    _same_structure(ours, theirs)
    # Per-variable terms: the summed logp of 10 components is one Elemwise with more inputs
    # than NumPy's ufuncs take, which FAST_COMPILE's Python backend cannot run.
    logp = [m.compile_logp(sum=False, mode="FAST_COMPILE") for m in (ours, theirs)]
    for point in _points(theirs):
        values = [f(point) for f in logp]
        assert np.isfinite(sum(np.sum(v) for v in values[1]))
        for a, b in zip(*values, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_chapter_14_labelled_model_equals_package_builder(X, penguins):
    """Chapter 14's semi-supervised model, run with the names its cell uses (labels included)."""
    from penguin_utils.data import SPECIES
    from penguin_utils.mixture_logp import mvnormal_mixture_logp
    from penguin_utils.semisupervised import build_labelled_mixture_model, pick_labelled

    labels = pick_labelled(penguins["species"], 2, random_seed=0)
    nb = nbformat.read(BOOK / "14_known_labels.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1
    namespace = {
        "np": np,
        "pm": pm,
        "pt": pt,
        "X": X,
        "labels": labels,
        "SPECIES": SPECIES,
        "mvnormal_mixture_logp": mvnormal_mixture_logp,
    }
    exec(compile(cells[0], f"14_known_labels.ipynb:{TAG}", "exec"), namespace)
    ours, theirs = namespace["model"], build_labelled_mixture_model(X, labels)
    _same_structure(ours, theirs)
    _same_density(ours, theirs)


def test_chapter_13_model_equals_package_builder(X, penguins):
    """Chapter 13's sex-shift model (its likelihood in potentials) against build_sex_mixture_model."""
    sex = penguins["sex"]
    ours, theirs = chapter_model("13_sex_within_species.ipynb", X, sex=sex), build_sex_mixture_model(X, sex)
    _same_structure(ours, theirs)
    _same_density(ours, theirs)
