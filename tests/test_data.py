import numpy as np
import pandas as pd
from palmerpenguins import load_penguins as load_raw

from penguin_utils.data import FEATURES, SPECIES, load_penguins


def test_features_are_the_four_measurements_in_order():
    assert FEATURES == ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")


def test_rows_with_a_missing_measurement_are_dropped_and_reported(penguins):
    raw = load_raw()
    assert len(raw) == 344
    assert len(penguins) == 342
    assert penguins.attrs["dropped"] == [3, 271]
    assert raw.loc[[3, 271], list(FEATURES)].isna().all(axis=None)
    assert not penguins[list(FEATURES)].isna().any(axis=None)


def test_index_is_the_original_row_number(penguins):
    raw = load_raw()
    assert penguins.index.name == "penguin"
    assert penguins.index.is_unique
    np.testing.assert_array_equal(
        penguins[list(FEATURES)].to_numpy(), raw.loc[penguins.index, list(FEATURES)].to_numpy()
    )


def test_species_is_categorical_with_known_counts(penguins):
    assert isinstance(penguins["species"].dtype, pd.CategoricalDtype)
    assert tuple(penguins["species"].cat.categories) == SPECIES
    assert penguins["species"].value_counts().to_dict() == {"Adelie": 151, "Gentoo": 123, "Chinstrap": 68}


def test_the_same_call_gives_the_same_frame():
    pd.testing.assert_frame_equal(load_penguins(), load_penguins())
