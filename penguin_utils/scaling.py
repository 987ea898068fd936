"""Standardise measurements with statistics of the training penguins only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from penguin_utils._validation import (
    check_features,
    check_measurements,
    check_physical,
    check_training_units,
    check_within_range,
)
from penguin_utils.data import FEATURES

__all__ = ["PenguinScaler", "fit_scaler"]


class PenguinScaler:
    """Standardisation with the training penguins' statistics, guarding its input.

    Use :func:`fit_scaler` to make one (or :func:`penguin_utils.io.load_fit` to get the one
    saved with a fit). ``transform`` computes ``(x - mean) / scale`` exactly as
    scikit-learn's ``StandardScaler`` does, and refuses data with a missing feature column,
    NaN or infinite values, or values far outside the range seen in fitting, which is how
    a measurement in the wrong unit shows itself. New penguins must be scaled with the
    scaler saved with the fit, never with one refitted on them: refitting moves the
    origin and the units, and nothing downstream can notice.

    Attributes
    ----------
    features : tuple of str
        The measurement columns, in the order of the scaled output.
    mean, scale : numpy.ndarray
        Fitted mean and population standard deviation per feature (scikit-learn's
        ``mean_`` and ``scale_``), shape (n_features,).
    data_min, data_max : numpy.ndarray
        Smallest and largest fitted value per feature, shape (n_features,).
    """

    def __init__(
        self,
        mean: np.ndarray,
        scale: np.ndarray,
        data_min: np.ndarray,
        data_max: np.ndarray,
        features: Sequence[str] = FEATURES,
    ):
        self.features = check_features(features)
        arrays = {"mean": mean, "scale": scale, "data_min": data_min, "data_max": data_max}
        for name, value in arrays.items():
            value = np.array(value, dtype=float)
            if value.shape != (len(self.features),) or not np.isfinite(value).all():
                raise ValueError(
                    f"PenguinScaler {name} must hold one finite number per feature "
                    f"{list(self.features)}, got {value!r}."
                )
            value.flags.writeable = False
            setattr(self, name, value)
        if not (self.scale > 0).all():
            raise ValueError(f"PenguinScaler scale must be positive for every feature, got {self.scale}.")

    def __repr__(self) -> str:
        ranges = ", ".join(
            f"{f}: {lo:g}–{hi:g}" for f, lo, hi in zip(self.features, self.data_min, self.data_max, strict=True)
        )
        return f"PenguinScaler({ranges})"

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

        Raises
        ------
        TypeError
            If ``df`` is not a DataFrame (an array has no column names to check).
        ValueError
            For a missing or duplicated column, non-numeric, NaN or infinite values,
            lengths or masses that are not positive, or values far outside the fitted
            range (other units), naming the rows.
        """
        values = check_measurements(df, self.features)
        check_physical(values, df.index, self.features)
        check_within_range(values, df.index, self.features, self.data_min, self.data_max)
        scaled = (values - self.mean) / self.scale  # as StandardScaler.transform, bit for bit
        if not np.isfinite(scaled).all():  # cannot happen for values within the fitted range
            raise ValueError("Scaling produced non-finite values; check the input for extreme values.")
        return pd.DataFrame(scaled, index=df.index, columns=list(self.features))

    def inverse_transform(self, scaled: pd.DataFrame) -> pd.DataFrame:
        """Map scaled features back to millimetres and grams (same shape and index)."""
        values = check_measurements(scaled, self.features, name="scaled")
        return pd.DataFrame(values * self.scale + self.mean, index=scaled.index, columns=list(self.features))


def fit_scaler(df: pd.DataFrame, features: Sequence[str] = FEATURES) -> PenguinScaler:
    """Fit a scaler on training penguins.

    Fit once, on the training penguins, and keep the scaler with the fit
    (:func:`penguin_utils.io.save_fit` does): new penguins must be scaled with it, never
    with a scaler refitted on them.

    Parameters
    ----------
    df : pandas.DataFrame
        Training penguins with the columns ``features`` (mm and g), no missing values.
    features : sequence of str, default :data:`~penguin_utils.data.FEATURES`
        The measurement columns to scale: a list or tuple of names, never a bare string.

    Returns
    -------
    PenguinScaler
        Apply it with ``.transform(df)`` to the training data and to any new penguins.

    Raises
    ------
    TypeError
        If ``df`` is not a DataFrame or ``features`` is not a sequence of names.
    ValueError
        The guards of :meth:`PenguinScaler.transform` (missing or duplicated columns,
        non-numeric, NaN or infinite values, lengths or masses that are not positive),
        plus units: a column whose median no penguin has, or rows whose values differ
        from the rest by a unit-sized factor (kg among grams), named by row; fewer than
        2 penguins; a column that does not vary.
    """
    features = check_features(features)
    values = check_measurements(df, features)
    check_physical(values, df.index, features)
    check_training_units(values, df.index, features)
    n = len(values)
    if n < 2:
        raise ValueError(f"fit_scaler needs at least 2 penguins to estimate a spread, got {n}.")
    low, high = values.min(axis=0), values.max(axis=0)
    constant = [f for f, lo, hi in zip(features, low, high, strict=True) if lo == hi]
    if constant:
        raise ValueError(f"Column(s) {constant} do not vary in the training data, so they cannot be scaled.")
    # scikit-learn's StandardScaler arithmetic, step for step, so that the result matches it
    # bit for bit: the mean, then the corrected two-pass variance (Chan, Golub and LeVeque).
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported just below
        mean = values.sum(axis=0) / n
        centred = values - mean
        correction = centred.sum(axis=0)
        variance = (np.square(centred).sum(axis=0) - correction**2 / n) / n
        scale = np.sqrt(variance)
    if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
        raise ValueError("The training values are too large to scale (their variance overflows); check their units.")
    return PenguinScaler(mean, scale, low, high, features)
