"""Save a fit (posterior and scaler) to one NetCDF file and load it back.

New penguins can then be assigned in a later Python process without re-sampling:
``idata, scaler = load_fit(path)`` then ``assign_clusters(idata, scaler.transform(df))``.
The scaler saved with the fit is the one to use: a scaler refitted on the new penguins
would scale them differently from the data the model saw, and nothing can detect that.

:func:`read_fit` does the reading and checking; :func:`load_fit` wraps its posterior in
an ``arviz.InferenceData``. Code that must start fast (the command-line tool) uses
:func:`read_draws`: the checked draws of ``w``, ``mu`` and ``chol`` read with netCDF4
alone, without xarray (whose import and string decoding took half a second).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from penguin_utils.posterior import COORDS, REQUIRED, MixtureDraws, as_posterior, draws_from_arrays, mixture_draws
from penguin_utils.scaling import PenguinScaler

if TYPE_CHECKING:
    import netCDF4
    import xarray as xr

__all__ = [
    "atomic_write",
    "book_fit_path",
    "check_destination",
    "load_fit",
    "read_draws",
    "read_fit",
    "save_fit",
]

#: Marks files written by :func:`save_fit`, so that other NetCDF files are refused.
FORMAT = "penguin-mixtures-fit"
FORMAT_VERSION = 1
_SCALER_GROUP = "penguin_scaler"
_ENGINE = "netcdf4"
# First bytes of a NetCDF-4 (HDF5) and a classic NetCDF file.
_SIGNATURES = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02", b"CDF\x05")


def save_fit(path: str | PathLike, idata, scaler: PenguinScaler, *, overwrite: bool = False) -> Path:
    """Write the posterior of ``idata`` and the fitted ``scaler`` to one NetCDF file.

    The file is written to a temporary file in the same folder and renamed over ``path``
    only once complete, so a failed save never damages an existing fit.

    Parameters
    ----------
    path : str or path-like
        Destination, conventionally ending in ``.nc``; ``~`` is expanded.
    idata : arviz.InferenceData or xarray.Dataset
        A fit with ``w``, ``mu`` and ``chol`` in its posterior, or that posterior group
        (other posterior variables are saved too; other groups are not).
    scaler : PenguinScaler
        The scaler the model's data were transformed with.
    overwrite : bool, default False
        Replace an existing file; without it an existing file is an error.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path).expanduser()
    if not isinstance(scaler, PenguinScaler):
        raise TypeError(f"scaler must be a PenguinScaler from fit_scaler(), got {type(scaler).__name__}.")
    import xarray as xr

    mixture_draws(idata, scaler.features)
    posterior = as_posterior(idata)
    scaler_ds = xr.Dataset(
        {
            "mean": ("feature", scaler.mean),
            "scale": ("feature", scaler.scale),
            "data_min": ("feature", scaler.data_min),
            "data_max": ("feature", scaler.data_max),
        },
        coords={"feature": list(scaler.features)},
        attrs={"format": FORMAT, "format_version": FORMAT_VERSION},
    )
    with atomic_write(path, overwrite=overwrite) as tmp:
        _write(tmp, posterior, scaler_ds)
    return path


def _write(tmp: Path, posterior: xr.Dataset, scaler_ds: xr.Dataset) -> None:
    """Both groups into ``tmp``: the posterior first (mode "w"), then the scaler appended.

    Every variable carries a Fletcher-32 checksum, so a file damaged after saving fails
    to load instead of giving wrong numbers.
    """
    for ds, group, mode in ((posterior, "posterior", "w"), (scaler_ds, _SCALER_GROUP, "a")):
        checksums = {name: {"fletcher32": True} for name in ds.variables if ds[name].dtype.kind in "biuf"}
        ds.to_netcdf(tmp, mode=mode, group=group, engine=_ENGINE, encoding=checksums)


def check_destination(path: str | PathLike, *, overwrite: bool = False, inputs: Sequence = ()) -> Path:
    """Check that ``path`` can be written, before any time is spent computing what goes there.

    Parameters
    ----------
    path : str or path-like
        The file (or, for Parquet, folder) to write; ``~`` is expanded.
    overwrite : bool, default False
        Allow replacing an existing ``path``.
    inputs : sequence of str or path-like
        Files the result is computed from; ``path`` must not be one of them (``"-"``, standard
        input, is skipped).

    Returns
    -------
    pathlib.Path
        ``path`` with ``~`` expanded.

    Raises
    ------
    IsADirectoryError, FileNotFoundError, PermissionError, FileExistsError
        Each naming the problem and what to do (``FileExistsError`` also for an input as ``path``).
    """
    path = Path(path).expanduser()
    folder = path.parent
    for given in inputs:
        if str(given) != "-" and path.exists() and Path(given).exists() and path.samefile(given):
            raise FileExistsError(f"{path} is also an input; write the result to another file.")
    if path.is_dir() and path.suffix != ".parquet":
        raise IsADirectoryError(f"{path} is a folder; give a file name inside it, e.g. {path / 'result'}.")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"Cannot save to {path}: the folder {folder} {what}; create it first.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"Cannot save to {path}: the folder {folder} is not writable; choose another folder.")
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} exists already; allow replacing it (--force on the command line, overwrite=True in "
            "Python) or choose another name."
        )
    return path


def _partial_name(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}.incomplete-{pid}.part")


def _remove_stale_partials(path: Path) -> None:
    """Delete partial files beside ``path`` left by runs that were killed (their process is gone).

    Older versions named them ``.NAME.PID.part``; both names are recognised, and the folders of
    partial results (``.NAME.incomplete-PID.parts``) :mod:`penguin_utils.streaming` writes. Only POSIX can
    ask whether a process exists without touching it.
    """
    if os.name != "posix" or not path.parent.is_dir():
        return
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:incomplete-)?(\d+)\.parts?")
    for leftover in path.parent.iterdir():
        match = pattern.fullmatch(leftover.name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:  # its writer is gone: nobody will finish or rename it
            _remove(leftover)
        except (PermissionError, OverflowError):  # alive under another user, or not a pid
            pass


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_write(
    path: str | PathLike, *, overwrite: bool = False, inputs: Sequence = (), folder: bool = False
) -> Iterator[Path]:
    """Write to a temporary path beside ``path``; rename it over ``path`` only on success.

    The temporary name, ``.NAME.incomplete-PID.part``, says what it is. A run killed before the
    rename (even by SIGKILL) leaves ``path`` as it was; the next run writing ``path`` removes
    such leftovers of processes that no longer exist.

    Parameters
    ----------
    path : str or path-like
        The destination, checked with :func:`check_destination`.
    overwrite, inputs
        As in :func:`check_destination`.
    folder : bool, default False
        The result is a folder (a Parquet data set): the temporary path is created as an
        empty folder instead of an empty file.

    Yields
    ------
    pathlib.Path
        The temporary path to write to, already created (so an unwritable folder fails now).
    """
    path = check_destination(path, overwrite=overwrite, inputs=inputs)
    _remove_stale_partials(path)
    tmp = _partial_name(path, os.getpid())
    _remove(tmp)
    try:
        tmp.mkdir() if folder else open(tmp, "xb").close()
    except PermissionError as err:
        raise PermissionError(
            f"Cannot save to {path}: the folder {path.parent} is not writable ({err.strerror}); choose another folder."
        ) from err
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():  # a folder cannot be renamed over a folder: swap
            old = path.with_name(f".{path.name}.replaced-{os.getpid()}.part")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            if path.is_dir():
                shutil.rmtree(path)
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def read_fit(path: str | PathLike) -> tuple[xr.Dataset, PenguinScaler]:
    """Read and check a file written by :func:`save_fit`, without ArviZ.

    Parameters
    ----------
    path : str or path-like
        ``~`` is expanded.

    Returns
    -------
    posterior : xarray.Dataset
        The saved posterior (``w``, ``mu``, ``chol``, ...), loaded into memory; every
        function of :mod:`penguin_utils.assign` accepts it in place of an InferenceData.
    scaler : PenguinScaler
        Behaves exactly like the scaler that was saved.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        No file at ``path``, or a folder.
    ValueError
        The file is not a penguin-mixtures fit, is damaged or truncated, was written in
        another format version, or holds a posterior that fails the checks of
        :func:`~penguin_utils.posterior.mixture_draws`.
    """
    import xarray as xr

    path = Path(path).expanduser()
    with _open_fit(path) as nc:
        scaler = _read_scaler(nc, path)
    try:
        with xr.open_dataset(path, group="posterior", engine=_ENGINE) as ds:
            posterior = ds.load()
    except (OSError, RuntimeError, KeyError) as err:
        raise ValueError(f"{path} is damaged or truncated ({type(err).__name__}: {err}); save the fit again.") from err
    mixture_draws(posterior, scaler.features)
    return posterior, scaler


def read_draws(path: str | PathLike) -> tuple[MixtureDraws, PenguinScaler]:
    """The checked draws of ``w``, ``mu`` and ``chol`` and the scaler of a fit file, without xarray.

    What :func:`read_fit` followed by :func:`~penguin_utils.posterior.mixture_draws` gives,
    reading only those three variables: for code that must start fast (the command line).
    Parameters and errors as in :func:`read_fit`.

    Returns
    -------
    draws : MixtureDraws
        Accepted by every function of :mod:`penguin_utils.assign` in place of a posterior.
    scaler : PenguinScaler
    """
    path = Path(path).expanduser()
    with _open_fit(path) as nc:
        scaler = _read_scaler(nc, path)
        try:
            posterior = nc.groups["posterior"]
            variables = {
                name: (var.dimensions, var[...]) for name, var in posterior.variables.items() if name in REQUIRED
            }
            dims = {name: len(dim) for name, dim in posterior.dimensions.items()}
            coords = {name: _values(posterior, name, dims) for name in COORDS if name in dims}
        except (OSError, RuntimeError, KeyError) as err:
            raise ValueError(
                f"{path} is damaged or truncated ({type(err).__name__}: {err}); save the fit again."
            ) from err
    return draws_from_arrays(variables, coords, scaler.features), scaler


def _values(group: netCDF4.Group, name: str, dims: dict[str, int]):
    """A coordinate's values; 0, 1, ... when none was saved (as xarray gives them)."""
    import numpy as np

    return group.variables[name][...] if name in group.variables else np.arange(dims[name])


@contextmanager
def _open_fit(path: Path) -> Iterator[netCDF4.Dataset]:
    """``path`` opened with netCDF4 once it looks like a fit file: a NetCDF file with both groups."""
    import netCDF4

    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a fit file; pass the .nc file written by save_fit.")
    if not path.is_file():
        raise FileNotFoundError(
            f"No fit file at {path}; write one with penguin_utils.io.save_fit(path, idata, scaler)."
        )
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head.startswith(_SIGNATURES):
        raise ValueError(f"{path} is not a penguin-mixtures fit file: it is not a NetCDF file at all.")
    try:
        nc = netCDF4.Dataset(path)
    except OSError as err:
        raise ValueError(
            f"{path} is damaged or truncated (it starts like a NetCDF file but cannot be read: {err}); "
            "save the fit again."
        ) from err
    with nc:
        nc.set_auto_mask(False)  # plain arrays, as xarray reads them
        if _SCALER_GROUP not in nc.groups:
            raise ValueError(f"{path} is not a penguin-mixtures fit file (it has no {_SCALER_GROUP!r} group).")
        yield nc


def _read_scaler(nc: netCDF4.Dataset, path: Path) -> PenguinScaler:
    """The saved scaler, after checking the format and that a posterior is there."""
    try:
        group = nc.groups[_SCALER_GROUP]
        attrs = {name: group.getncattr(name) for name in group.ncattrs()}
        if attrs.get("format") != FORMAT:
            raise ValueError(f"{path} is not a penguin-mixtures fit file (format {attrs.get('format')!r}).")
        if int(attrs.get("format_version", -1)) != FORMAT_VERSION:
            raise ValueError(
                f"{path} was written in fit format version {attrs.get('format_version')}, "
                f"this penguin_utils reads version {FORMAT_VERSION}; refit and save again."
            )
        if "posterior" not in nc.groups:
            raise ValueError(f"{path} is damaged: it has a scaler but no posterior group; save the fit again.")
        values = {name: group.variables[name][...] for name in ("mean", "scale", "data_min", "data_max")}
        features = [str(f) for f in group.variables["feature"][...]]
    except (OSError, RuntimeError, KeyError) as err:
        raise ValueError(f"{path} is damaged or truncated ({type(err).__name__}: {err}); save the fit again.") from err
    return PenguinScaler(values["mean"], values["scale"], values["data_min"], values["data_max"], features)


def load_fit(path: str | PathLike):
    """Read a file written by :func:`save_fit` (see :func:`read_fit`).

    Returns
    -------
    idata : arviz.InferenceData
        With the saved ``posterior`` group, loaded into memory.
    scaler : PenguinScaler
        Behaves exactly like the scaler that was saved.
    """
    import arviz as az

    posterior, scaler = read_fit(path)
    return az.InferenceData(posterior=posterior), scaler


def book_fit_path(name: str, folder: str | PathLike = "fits") -> Path:
    """Where the chapters keep a fit they share: ``<folder>/<name>.nc``, the folder created.

    Chapter 2 saves its fit there for chapters 3 and 4 to compare with; paths are relative
    to the chapter's own folder, as notebooks run there.
    """
    if not isinstance(name, str) or not name or any(sep in name for sep in "/\\"):
        raise ValueError(f"name must be a plain file name without extension, got {name!r}.")
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.nc"
