"""What every chapter does first, and the fit the chapters share.

Each chapter starts with ``penguins, scaler, X = setup_chapter()`` and the chapters
after chapter 3 take the book's fit from :func:`shared_fit`: chapter 3 samples it once
and saves it in ``book/fits``; a later chapter loads it when it is there and was made
from the same data, settings and code, and samples it itself otherwise (same seed, so
the same draws). Either way a chapter runs on its own.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from importlib.metadata import version
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from penguin_utils.data import load_penguins
from penguin_utils.scaling import PenguinScaler, fit_scaler

__all__ = ["FIT_SETTINGS", "setup_chapter", "shared_fit"]

log = logging.getLogger(__name__)

#: The book's fit: K = 3, four chains of 1000 tuning + 1000 kept draws, seed 1.
FIT_SETTINGS = {"n_clusters": 3, "chains": 4, "tune": 1000, "draws": 1000, "random_seed": 1}
# Whatever changes the draws of a given seed: the data, the settings, these modules and the
# sampler's versions. A saved fit whose stamp differs is sampled again.
_SOURCES = ("models.py", "sampling.py", "relabel.py", "_kernels.py", "mixture_logp.py")
_PACKAGES = ("pymc", "pytensor", "nutpie", "numba", "numpy")


def setup_chapter() -> tuple[pd.DataFrame, PenguinScaler, pd.DataFrame]:
    """Load and scale the penguins, and keep known harmless warnings off the page.

    The warnings filtered are PyTensor's note that pip's build has no BLAS (the book's
    models run on Numba) and ArviZ's notices about its next major version.

    Returns
    -------
    penguins : pandas.DataFrame, shape (342, 8)
        :func:`~penguin_utils.data.load_penguins`.
    scaler : PenguinScaler
        Fitted on all the penguins.
    X : pandas.DataFrame, shape (342, 4)
        The four measurements, scaled.
    """
    import seaborn as sns

    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    sns.set_theme(style="whitegrid")
    penguins = load_penguins()
    scaler = fit_scaler(penguins)
    return penguins, scaler, scaler.transform(penguins)


def _stamp(X: pd.DataFrame) -> str:
    """A digest of everything that decides the book fit's draws."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(X.to_numpy(dtype=float)).tobytes())
    digest.update(repr((list(X.columns), sorted(FIT_SETTINGS.items()))).encode())
    package = Path(__file__).parent
    for name in _SOURCES:
        digest.update((package / name).read_bytes())
    for name in _PACKAGES:
        digest.update(f"{name}=={version(name)}".encode())
    return digest.hexdigest()


def shared_fit(X: pd.DataFrame, scaler: PenguinScaler, *, folder: str | PathLike = "fits"):
    """The book's fit of the mixture model to ``X``: loaded if saved, else sampled and saved.

    Sampling is :func:`~penguin_utils.sampling.fit_mixture` with :data:`FIT_SETTINGS`
    (nutpie, the fused density of chapter 12). The fit is saved to
    ``<folder>/mixture.nc`` with a stamp of the data, settings, sampling code and
    package versions; a saved fit with another stamp is not used but sampled again and
    replaced (the folder is the book's cache, not a user's file).

    Parameters
    ----------
    X : pandas.DataFrame, shape (n_penguins, 4)
        The scaled measurements.
    scaler : PenguinScaler
        The scaler ``X`` was made with; saved beside the posterior.
    folder : str or path-like, default "fits"
        Relative to the working directory, which is the chapter's folder in a notebook.

    Returns
    -------
    arviz.InferenceData
        With the ``posterior`` group only (the saved file holds no sampler statistics),
        read from the file in both cases.
    """
    from penguin_utils.io import book_fit_path, load_fit, save_fit
    from penguin_utils.sampling import fit_mixture

    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be the scaled penguins as a DataFrame, got {type(X).__name__}.")
    path = book_fit_path("mixture", folder)
    stamp = _stamp(X)
    if path.exists():
        try:
            idata, _ = load_fit(path)
        except ValueError as err:
            log.warning("Sampling the book's fit again: %s", err)
        else:
            if idata.posterior.attrs.get("penguin_mixtures_stamp") == stamp:
                return idata
            log.info("Sampling the book's fit again: %s was made from other data, settings or code.", path)
    fitted = fit_mixture(X, **FIT_SETTINGS)
    save_fit(path, fitted.posterior.assign_attrs(penguin_mixtures_stamp=stamp), scaler, overwrite=True)
    # Read back, so that a chapter sees the same object whether it sampled or loaded.
    return load_fit(path)[0]
