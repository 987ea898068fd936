import numpy as np
import pandas as pd
import pytest

from penguin_utils.data import FEATURES
from penguin_utils.scaling import PenguinScaler, fit_scaler


def test_scaled_training_data_have_mean_zero_and_unit_sd(penguins, X):
    raw = penguins[list(FEATURES)].to_numpy()
    expected = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    np.testing.assert_allclose(X.to_numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(X.mean().to_numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(ddof=0).to_numpy(), 1, atol=1e-12)


def test_transform_keeps_column_names_and_index(penguins, X):
    assert list(X.columns) == list(FEATURES)
    pd.testing.assert_index_equal(X.index, penguins.index)


def test_new_penguins_use_the_training_statistics(penguins):
    train, new = penguins.iloc[::2], penguins.iloc[1::2]
    scaler = fit_scaler(train)
    raw_train = train[list(FEATURES)].to_numpy()
    expected = (new[list(FEATURES)].to_numpy() - raw_train.mean(axis=0)) / raw_train.std(axis=0)
    np.testing.assert_allclose(scaler.transform(new).to_numpy(), expected, atol=1e-12)


def test_inverse_transform_round_trips(penguins, scaler, X):
    back = scaler.inverse_transform(X)
    np.testing.assert_allclose(back.to_numpy(), penguins[list(FEATURES)].to_numpy(), atol=1e-9)


def test_returns_a_penguin_scaler_wrapping_sklearn(scaler):
    assert isinstance(scaler, PenguinScaler)
    assert scaler.features == FEATURES
    assert scaler.data_min[3] == 2700 and scaler.data_max[3] == 6300
    assert "body_mass_g: 2700–6300" in repr(scaler)


def test_missing_column_is_named(penguins, scaler):
    with pytest.raises(ValueError, match=r"missing the column\(s\) \['body_mass_g'\]"):
        scaler.transform(penguins.drop(columns="body_mass_g"))
    with pytest.raises(ValueError, match="missing the column"):
        fit_scaler(penguins.drop(columns="bill_depth_mm"))


def test_nan_and_infinite_values_are_refused_with_their_rows(penguins, scaler):
    bad = penguins.head(5).copy()
    bad.loc[bad.index[2], "flipper_length_mm"] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values in 1 row\(s\), e.g. \[2\]"):
        scaler.transform(bad)
    bad.loc[bad.index[2], "flipper_length_mm"] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        scaler.transform(bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_scaler(bad)


def test_body_mass_in_kilograms_is_flagged(penguins, scaler):
    kg = penguins.head(3).copy()
    kg["body_mass_g"] = kg["body_mass_g"] / 1000
    with pytest.raises(ValueError, match=r"other units.*body_mass_g.*2700–6300.*grams rather than kilograms"):
        scaler.transform(kg)


def test_bill_length_in_centimetres_is_flagged(penguins, scaler):
    cm = penguins.head(3).copy()
    cm["bill_length_mm"] = cm["bill_length_mm"] / 10
    with pytest.raises(ValueError, match="bill_length_mm"):
        scaler.transform(cm)


def test_values_just_outside_the_fitted_range_are_accepted(penguins, scaler):
    big = penguins.head(1).copy()
    big["body_mass_g"] = 6300 + 1000  # a heavy but plausible Gentoo
    assert scaler.transform(big)["body_mass_g"].iloc[0] > 3


@pytest.mark.parametrize("bad", [np.zeros((3, 4)), [[1, 2, 3, 4]], "penguins"])
def test_non_dataframes_are_refused(scaler, bad):
    with pytest.raises(TypeError, match="pandas DataFrame"):
        scaler.transform(bad)


def test_non_numeric_and_empty_input(penguins, scaler):
    text = penguins.head(2).copy()
    text["bill_depth_mm"] = ["deep", "shallow"]
    with pytest.raises(ValueError, match="non-numeric"):
        scaler.transform(text)
    with pytest.raises(ValueError, match="zero rows"):
        scaler.transform(penguins.head(0))


def test_fit_needs_spread(penguins):
    with pytest.raises(ValueError, match="at least 2 penguins"):
        fit_scaler(penguins.head(1))
    same = pd.concat([penguins.head(1)] * 3)
    with pytest.raises(ValueError, match="do not vary"):
        fit_scaler(same)
