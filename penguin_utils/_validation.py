"""Checks shared by every public function: one room for input checks and the unit guesses.

Posteriors are checked in :mod:`penguin_utils.posterior`. What no check can see: a NumPy
array carries no column names, so its column order is the caller's responsibility; and
penguins scaled with a scaler refitted on them look like any other scaled penguins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from penguin_utils.data import FEATURES

# The unit guesses, all here: how a value in other units (cm for mm, kg for g) or unscaled
# data gives itself away.

#: Scaled measurements of real penguins stay within a few standard deviations of zero;
#: raw millimetres and grams are in the tens to thousands.
MAX_ABS_SCALED = 10.0

#: Ranges that the median of each of the book's measurements (:data:`~penguin_utils.data.FEATURES`)
#: must fall in, generous enough for any penguin species (an emperor weighs up to ~45 kg):
#: a median outside says the whole column is in other units.
PLAUSIBLE_MEDIAN = dict(zip(FEATURES, [(10.0, 200.0), (3.0, 60.0), (50.0, 500.0), (300.0, 60_000.0)], strict=True))

#: A training value further than this factor from its column's median (on a log scale, and
#: further than 3 interquartile ranges of the logs) is taken for a value in other units.
UNIT_OUTLIER_FACTOR = 3.0

#: How far past the fitted minimum and maximum, as a fraction of the fitted range, a new
#: value may lie before it is taken for a unit mistake (body mass in kg, bills in cm).
RANGE_TOLERANCE = 0.5

_UNIT_SUFFIXES = ("_mm", "_cm", "_m", "_g", "_kg")


def check_positive_int(value, name: str, *, at_most: int | None = None, of: str = "allowed") -> int:
    """Return ``value`` as an ``int`` after checking it is a whole number from 1 to ``at_most``.

    ``of`` names what ``at_most`` counts, for the message (e.g. ``"penguins in X"``).
    Booleans are refused although Python counts them as integers.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if at_most is not None and value > at_most:
        raise ValueError(f"{name}={value} is more than the {at_most} {of}.")
    return int(value)


def check_features(features, *, name: str = "features") -> tuple[str, ...]:
    """Return ``features`` as a tuple after checking it is a sequence of distinct column names."""
    if isinstance(features, (str, bytes)):
        raise TypeError(
            f"{name} must be a sequence of column names, e.g. [{features!r}], not the bare string {features!r}."
        )
    try:
        features = tuple(features)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of column names, got {type(features).__name__}.") from None
    if not features:
        raise ValueError(f"{name} is empty; give at least one column name.")
    not_str = [f for f in features if not isinstance(f, str)]
    if not_str:
        raise TypeError(f"{name} must hold column names (strings), got {not_str}.")
    duplicated = sorted({f for f in features if features.count(f) > 1})
    if duplicated:
        raise ValueError(f"{name} lists {duplicated} more than once; give each column once.")
    return features


def check_measurements(df: pd.DataFrame, features: Sequence[str], *, name: str = "df") -> np.ndarray:
    """Return ``df[features]`` as a float array after checking columns and values.

    Raises a ``TypeError`` for a non-DataFrame and a ``ValueError`` naming the missing or
    duplicated columns, non-numeric values, or the rows holding NaN or infinite values.
    """
    features = check_features(features)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame with columns {list(features)}, got {type(df).__name__}.")
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise ValueError(
            f"{name} is missing the column(s) {missing}. It needs all of {list(features)}; "
            "rename your columns to match, or load the data with penguin_utils.load_penguins()."
        )
    duplicated = sorted({c for c in df.columns[df.columns.duplicated()] if c in features})
    if duplicated:
        raise ValueError(
            f"{name} has the column(s) {duplicated} more than once; keep one of each, "
            "e.g. df.loc[:, ~df.columns.duplicated()]."
        )
    try:
        values = df[list(features)].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} has non-numeric values in {list(features)}: {err}") from err
    if len(values) == 0:
        raise ValueError(f"{name} holds no penguins (zero rows).")
    _check_finite(values, df.index, name)
    return values


def check_physical(values: np.ndarray, index: pd.Index, features: Sequence[str], *, name: str = "df") -> None:
    """Refuse lengths and masses (columns ending in a unit such as ``_mm``, ``_g``) that are not positive."""
    problems = []
    for j, feature in enumerate(features):
        if not feature.endswith(_UNIT_SUFFIXES):
            continue
        bad = values[:, j] <= 0
        if bad.any():
            problems.append(f"{feature} = {values[bad, j][:5].tolist()} (rows {list(index[bad][:5])})")
    if problems:
        raise ValueError(
            f"{name} has lengths or masses that are zero or negative: "
            + "; ".join(problems)
            + ". No penguin measures that; fix or drop those rows (a missing value coded as 0 or -1?)."
        )


def check_training_units(values: np.ndarray, index: pd.Index, features: Sequence[str], *, name: str = "df") -> None:
    """Refuse training columns that are, entirely or in some rows, in other units.

    A column whose median is implausible for penguins (see :data:`PLAUSIBLE_MEDIAN`) is
    in other units as a whole; a row further than :data:`UNIT_OUTLIER_FACTOR` from the
    column's median, and further than three interquartile ranges on a log scale, is a
    value in other units among the rest (body mass in kg among grams, a bill in cm).
    """
    problems = []
    for j, feature in enumerate(features):
        column = values[:, j]
        median = float(np.median(column))
        if feature in PLAUSIBLE_MEDIAN:
            low, high = PLAUSIBLE_MEDIAN[feature]
            if not low <= median <= high:
                problems.append(
                    f"{feature} has median {median:g}, no penguin's (expected {low:g}–{high:g}): "
                    "the whole column looks like other units"
                )
                continue
        if median <= 0 or (column <= 0).any():
            continue  # logs undefined; columns with units were checked by check_physical
        logs = np.log10(column)
        centre = np.median(logs)
        q1, q3 = np.percentile(logs, [25, 75])
        limit = max(np.log10(UNIT_OUTLIER_FACTOR), 3 * (q3 - q1))
        bad = np.abs(logs - centre) > limit
        if bad.any():
            problems.append(
                f"{feature} = {column[bad][:5].tolist()} (rows {list(index[bad][:5])}) differ from the other "
                f"penguins' median {median:g} by a factor of "
                f"{10 ** float(np.abs(logs[bad] - centre).max()):.3g} or so"
            )
    if problems:
        raise ValueError(
            f"{name} looks like it mixes units: "
            + "; ".join(problems)
            + ". Convert every value to the unit in the column name (mm, g), e.g. body mass in grams "
            "rather than kilograms, before fitting."
        )


def check_within_range(
    values: np.ndarray, index: pd.Index, features: Sequence[str], data_min: np.ndarray, data_max: np.ndarray
) -> None:
    """Refuse new values far outside the fitted range (:data:`RANGE_TOLERANCE`): other units."""
    margin = RANGE_TOLERANCE * (data_max - data_min)
    outside = (values < data_min - margin) | (values > data_max + margin)
    if not outside.any():
        return
    problems = []
    for j in np.flatnonzero(outside.any(axis=0)):
        rows = list(index[outside[:, j]][:5])
        problems.append(
            f"{features[j]} = {values[outside[:, j], j][:5].tolist()} (rows {rows}) "
            f"is far outside the fitted range {data_min[j]:g}–{data_max[j]:g}"
        )
    raise ValueError(
        "Measurements look like they are in other units than the training data: "
        + "; ".join(problems)
        + ". Convert them to the units in the column names (mm, g), e.g. body mass in "
        "grams rather than kilograms."
    )


def check_scaled(
    X: pd.DataFrame | np.ndarray, features: Sequence[str], *, name: str = "X"
) -> tuple[np.ndarray, pd.Index]:
    """Validate a scaled feature matrix and return ``(values, index)``.

    ``X`` is a DataFrame with the feature columns (as returned by
    ``PenguinScaler.transform``) or an array of shape (n_penguins, n_features). An array
    carries no column names: its columns must be in the order of ``features``, which
    nothing here can check. The index of an array is a ``RangeIndex`` named ``penguin``.
    """
    features = check_features(features)
    if isinstance(X, pd.DataFrame):
        extra = [c for c in X.columns if c not in features]
        if extra:
            raise ValueError(
                f"{name} has column(s) {extra} that are not features; the model uses exactly "
                f"{list(features)}. Pass scaler.transform(df), which keeps only those."
            )
        values = check_measurements(X, features, name=name)
        index = X.index
    elif isinstance(X, np.ndarray):
        try:
            values = np.asarray(X, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} has non-numeric values: {err}") from err
        if values.ndim != 2 or values.shape[1] != len(features):
            raise ValueError(
                f"{name} must have shape (n_penguins, {len(features)}) with columns "
                f"{list(features)}, got shape {values.shape}."
            )
        if len(values) == 0:
            raise ValueError(f"{name} holds no penguins (zero rows).")
        index = pd.RangeIndex(len(values), name="penguin")
        _check_finite(values, index, name)
    else:
        hint = ""
        if hasattr(X, "posterior") or type(X).__name__ in ("InferenceData", "Dataset", "DataTree"):
            hint = " It looks like a fit: the fit comes first, the penguins second, e.g. assign_clusters(idata, X)."
        raise TypeError(
            f"{name} must be the scaled penguins as a pandas DataFrame (scaler.transform(df)) or a NumPy "
            f"array of shape (n_penguins, {len(features)}), got {type(X).__name__}.{hint}"
        )
    if np.abs(values).max() > MAX_ABS_SCALED:
        raise ValueError(
            f"{name} looks unscaled: it has values up to {np.abs(values).max():.4g}, while "
            f"scaled measurements lie within ±{MAX_ABS_SCALED:g}. Pass scaler.transform(df) "
            "with the scaler saved with the fit."
        )
    return values, index


def _check_finite(values: np.ndarray, index: pd.Index, name: str) -> None:
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        rows = list(index[bad][:10])
        n_bad = int(bad.sum())
        raise ValueError(
            f"{name} has NaN or infinite values in {n_bad} row{'s' * (n_bad > 1)}, e.g. {rows}. "
            "Drop or fill those penguins before passing them in."
        )
