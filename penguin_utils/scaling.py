"""Standardise measurements with statistics of the training penguins only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from penguin_utils._validation import check_measurements
from penguin_utils.data import FEATURES

__all__ = ["PenguinScaler", "fit_scaler"]

#: How far past the fitted minimum and maximum, as a fraction of the fitted range, a new
#: value may lie before it is taken for a unit mistake (body mass in kg, bills in cm).
RANGE_TOLERANCE = 0.5


class PenguinScaler:
    """A fitted :class:`~sklearn.preprocessing.StandardScaler` that guards its input.

    Use :func:`fit_scaler` to make one. ``transform`` refuses data with a missing
    feature column, NaN or infinite values, or values far outside the range seen in
    fitting, which is how a measurement in the wrong unit shows itself.

    Attributes
    ----------
    features : tuple of str
        The measurement columns, in the order of the scaled output.
    scaler : sklearn.preprocessing.StandardScaler
        The fitted scaler (``mean_`` and ``scale_`` of shape (n_features,)).
    data_min, data_max : numpy.ndarray
        Smallest and largest fitted value per feature, shape (n_features,).
    """

    def __init__(self, scaler: StandardScaler, data_min: np.ndarray, data_max: np.ndarray, features: Sequence[str] = FEATURES):
        self.features = tuple(features)
        self.scaler = scaler
        self.data_min = np.asarray(data_min, dtype=float)
        self.data_max = np.asarray(data_max, dtype=float)

    def __repr__(self) -> str:
        ranges = ", ".join(
            f"{f}: {lo:g}–{hi:g}" for f, lo, hi in zip(self.features, self.data_min, self.data_max)
        )
        return f"PenguinScaler(n_fitted={int(self.scaler.n_samples_seen_)}, {ranges})"

    @property
    def mean(self) -> np.ndarray:
        """Fitted mean per feature, shape (n_features,)."""
        return self.scaler.mean_

    @property
    def scale(self) -> np.ndarray:
        """Fitted standard deviation per feature, shape (n_features,)."""
        return self.scaler.scale_

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Scale new penguins with the fitted mean and standard deviation.

        Parameters
        ----------
        df : pandas.DataFrame
            Penguins with (at least) the columns :attr:`features` in the original units
            (millimetres and grams). Other columns are ignored.

        Returns
        -------
        pandas.DataFrame
            Shape (n_penguins, n_features): the scaled features, same index as ``df``.
        """
        values = check_measurements(df, self.features)
        self._check_units(values, df.index)
        scaled = self.scaler.transform(values)
        return pd.DataFrame(scaled, index=df.index, columns=list(self.features))

    def inverse_transform(self, scaled: pd.DataFrame) -> pd.DataFrame:
        """Map scaled features back to millimetres and grams (same shape and index)."""
        values = check_measurements(scaled, self.features, name="scaled")
        return pd.DataFrame(
            self.scaler.inverse_transform(values), index=scaled.index, columns=list(self.features)
        )

    def _check_units(self, values: np.ndarray, index: pd.Index) -> None:
        margin = RANGE_TOLERANCE * (self.data_max - self.data_min)
        low, high = self.data_min - margin, self.data_max + margin
        outside = (values < low) | (values > high)
        if not outside.any():
            return
        problems = []
        for j in np.flatnonzero(outside.any(axis=0)):
            rows = list(index[outside[:, j]][:5])
            problems.append(
                f"{self.features[j]} = {values[outside[:, j], j][:5].tolist()} (rows {rows}) "
                f"is far outside the fitted range {self.data_min[j]:g}–{self.data_max[j]:g}"
            )
        raise ValueError(
            "Measurements look like they are in other units than the training data: "
            + "; ".join(problems)
            + ". Convert them to the units in the column names (mm, g), e.g. body mass in "
            "grams rather than kilograms."
        )


def fit_scaler(df: pd.DataFrame, features: Sequence[str] = FEATURES) -> PenguinScaler:
    """Fit a scaler on training penguins.

    Parameters
    ----------
    df : pandas.DataFrame
        Training penguins with the columns ``features`` (mm and g), no missing values.
    features : sequence of str, default :data:`~penguin_utils.data.FEATURES`
        The measurement columns to scale.

    Returns
    -------
    PenguinScaler
        Apply it with ``.transform(df)`` to the training data and to any new penguins.
    """
    values = check_measurements(df, features)
    if len(values) < 2:
        raise ValueError(f"fit_scaler needs at least 2 penguins to estimate a spread, got {len(values)}.")
    constant = [f for f, sd in zip(features, values.std(axis=0)) if sd == 0]
    if constant:
        raise ValueError(f"Column(s) {constant} do not vary in the training data, so they cannot be scaled.")
    scaler = StandardScaler().fit(values)
    return PenguinScaler(scaler, values.min(axis=0), values.max(axis=0), features)
