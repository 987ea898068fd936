"""The Palmer penguins data set, cleaned once for every chapter."""

from __future__ import annotations

import logging

import pandas as pd

__all__ = ["FEATURES", "SPECIES", "load_penguins"]

logger = logging.getLogger(__name__)

#: The four body measurements the book clusters on, in the order every array uses.
FEATURES: tuple[str, ...] = (
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
)

#: The three species, in the order of the categorical ``species`` column.
SPECIES: tuple[str, ...] = ("Adelie", "Chinstrap", "Gentoo")


def load_penguins() -> pd.DataFrame:
    """Load the Palmer penguins with every measurement present.

    Rows missing any of :data:`FEATURES` are dropped; their original row numbers are
    kept in ``df.attrs["dropped"]`` and logged, so nothing disappears unannounced.

    Returns
    -------
    pandas.DataFrame
        One row per penguin (342 of the 344 in the package), indexed by its row number
        in the original data (index name ``"penguin"``), with ``species`` as a categorical
        column (categories :data:`SPECIES`), ``island``, ``sex``, ``year`` and the four
        measurement columns as floats.
    """
    from palmerpenguins import load_penguins as _load_raw

    raw = _load_raw()
    missing = set(FEATURES) - set(raw.columns)
    if missing:  # guards against an incompatible palmerpenguins release
        raise RuntimeError(
            f"palmerpenguins returned no column(s) {sorted(missing)}; "
            "install palmerpenguins>=0.1.4, which ships the cleaned data set."
        )

    complete = raw[list(FEATURES)].notna().all(axis=1)
    dropped = raw.index[~complete].tolist()
    df = raw.loc[complete].copy()
    df.index.name = "penguin"
    df[list(FEATURES)] = df[list(FEATURES)].astype(float)
    df["species"] = pd.Categorical(df["species"], categories=list(SPECIES))
    df.attrs["dropped"] = dropped
    logger.info(
        "Dropped %d of %d penguins with a missing measurement (rows %s).",
        len(dropped),
        len(raw),
        dropped,
    )
    return df
