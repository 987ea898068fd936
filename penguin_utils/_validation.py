"""Checks shared by every public function that takes penguins or a posterior."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Scaled measurements of real penguins stay within a few standard deviations of zero;
#: raw millimetres and grams are in the tens to thousands.
MAX_ABS_SCALED = 10.0


def check_measurements(df: pd.DataFrame, features: Sequence[str], *, name: str = "df") -> np.ndarray:
    """Return ``df[features]`` as a float array after checking columns and values.

    Raises a ``TypeError`` for a non-DataFrame and a ``ValueError`` naming the missing
    columns, or the rows holding NaN or infinite values.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame with columns {list(features)}, "
            f"got {type(df).__name__}."
        )
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise ValueError(
            f"{name} is missing the column(s) {missing}. It needs all of {list(features)}; "
            "rename your columns to match, or load the data with penguin_utils.load_penguins()."
        )
    try:
        values = df[list(features)].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} has non-numeric values in {list(features)}: {err}") from err
    if len(values) == 0:
        raise ValueError(f"{name} holds no penguins (zero rows).")
    _check_finite(values, df.index, name)
    return values


def check_scaled(X: pd.DataFrame | np.ndarray, features: Sequence[str], *, name: str = "X") -> tuple[np.ndarray, pd.Index]:
    """Validate a scaled feature matrix and return ``(values, index)``.

    ``X`` is a DataFrame with the feature columns (as returned by
    ``PenguinScaler.transform``) or an array of shape (n_penguins, n_features) in the
    order of ``features``.
    """
    if isinstance(X, pd.DataFrame):
        extra = [c for c in X.columns if c not in features]
        if extra:
            raise ValueError(
                f"{name} has column(s) {extra} that are not features; the model uses exactly "
                f"{list(features)}. Pass scaler.transform(df), which keeps only those."
            )
        values = check_measurements(X, features, name=name)
        index = X.index
    else:
        values = np.asarray(X, dtype=float)
        if values.ndim != 2 or values.shape[1] != len(features):
            raise ValueError(
                f"{name} must have shape (n_penguins, {len(features)}) with columns "
                f"{list(features)}, got shape {values.shape}."
            )
        if len(values) == 0:
            raise ValueError(f"{name} holds no penguins (zero rows).")
        index = pd.RangeIndex(len(values), name="penguin")
        _check_finite(values, index, name)
    if np.abs(values).max() > MAX_ABS_SCALED:
        raise ValueError(
            f"{name} looks unscaled: it has values up to {np.abs(values).max():.4g}, while "
            f"scaled measurements lie within ±{MAX_ABS_SCALED:g}. Pass scaler.transform(df) "
            "with the scaler fitted on the training penguins."
        )
    return values, index


def _check_finite(values: np.ndarray, index: pd.Index, name: str) -> None:
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        rows = list(index[bad][:10])
        raise ValueError(
            f"{name} has NaN or infinite values in {bad.sum()} row(s), e.g. {rows}. "
            "Drop or fill those penguins before passing them in."
        )
