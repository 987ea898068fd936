"""Save a fit (posterior and scaler) to one NetCDF file and load it back.

New penguins can then be assigned in a later Python process without re-sampling:
``idata, scaler = load_fit(path)`` then ``assign_clusters(idata, scaler.transform(df))``.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr
from sklearn.preprocessing import StandardScaler

from penguin_utils.posterior import mixture_draws
from penguin_utils.scaling import PenguinScaler

__all__ = ["load_fit", "save_fit"]

#: Marks files written by :func:`save_fit`, so that other NetCDF files are refused.
FORMAT = "penguin-mixtures-fit"
FORMAT_VERSION = 1
_SCALER_GROUP = "penguin_scaler"


def save_fit(path: str | PathLike, idata: az.InferenceData, scaler: PenguinScaler, *, overwrite: bool = False) -> Path:
    """Write the posterior of ``idata`` and the fitted ``scaler`` to one NetCDF file.

    Parameters
    ----------
    path : str or path-like
        Destination, conventionally ending in ``.nc``.
    idata : arviz.InferenceData
        A fit with ``w``, ``mu`` and ``chol`` in its posterior (other posterior
        variables are saved too; other groups are not).
    scaler : PenguinScaler
        The scaler the model's data were transformed with.
    overwrite : bool, default False
        Replace an existing file; without it an existing file is an error.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    if not isinstance(scaler, PenguinScaler):
        raise TypeError(f"scaler must be a PenguinScaler from fit_scaler(), got {type(scaler).__name__}.")
    mixture_draws(idata, scaler.features)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists already; pass overwrite=True to replace it.")
    path.unlink(missing_ok=True)
    az.InferenceData(posterior=idata.posterior).to_netcdf(str(path))
    scaler_ds = xr.Dataset(
        {
            "mean": ("feature", scaler.mean),
            "scale": ("feature", scaler.scale),
            "var": ("feature", scaler.scaler.var_),
            "data_min": ("feature", scaler.data_min),
            "data_max": ("feature", scaler.data_max),
        },
        coords={"feature": list(scaler.features)},
        attrs={
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "n_samples_seen": int(scaler.scaler.n_samples_seen_),
        },
    )
    scaler_ds.to_netcdf(path, mode="a", group=_SCALER_GROUP)
    return path


def load_fit(path: str | PathLike) -> tuple[az.InferenceData, PenguinScaler]:
    """Read a file written by :func:`save_fit`.

    Returns
    -------
    idata : arviz.InferenceData
        With the saved ``posterior`` group, loaded into memory.
    scaler : PenguinScaler
        Behaves exactly like the scaler that was saved.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No fit file at {path}; write one with penguin_utils.io.save_fit(path, idata, scaler).")
    try:
        with xr.open_dataset(path, group=_SCALER_GROUP) as ds:
            scaler_ds = ds.load()
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path} is not a penguin-mixtures fit file (no scaler group): {err}") from err
    if scaler_ds.attrs.get("format") != FORMAT:
        raise ValueError(f"{path} is not a penguin-mixtures fit file (format {scaler_ds.attrs.get('format')!r}).")
    if int(scaler_ds.attrs.get("format_version", -1)) != FORMAT_VERSION:
        raise ValueError(
            f"{path} was written in fit format version {scaler_ds.attrs.get('format_version')}, "
            f"this penguin_utils reads version {FORMAT_VERSION}; refit and save again."
        )
    with xr.open_dataset(path, group="posterior") as ds:
        posterior = ds.load()
    idata = az.InferenceData(posterior=posterior)
    features = [str(f) for f in scaler_ds["feature"].values]
    mixture_draws(idata, features)

    sk = StandardScaler()
    sk.mean_ = scaler_ds["mean"].values
    sk.scale_ = scaler_ds["scale"].values
    sk.var_ = scaler_ds["var"].values
    sk.n_features_in_ = len(features)
    sk.n_samples_seen_ = np.int64(scaler_ds.attrs["n_samples_seen"])
    scaler = PenguinScaler(sk, scaler_ds["data_min"].values, scaler_ds["data_max"].values, features)
    return idata, scaler
