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


def test_returns_a_penguin_scaler_with_the_fitted_ranges(scaler):
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
    with pytest.raises(ValueError, match=r"NaN or infinite values in 1 row, e.g. \[2\]"):
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


def test_training_data_pass_unchanged_and_match_sklearn(penguins):
    from sklearn.preprocessing import StandardScaler

    before = penguins.copy()
    scaler = fit_scaler(penguins)
    pd.testing.assert_frame_equal(penguins, before)
    sk = StandardScaler().fit(penguins[list(FEATURES)].to_numpy())
    np.testing.assert_array_equal(scaler.mean, sk.mean_)
    np.testing.assert_array_equal(scaler.scale, sk.scale_)
    # bit for bit, without scikit-learn at transform time
    np.testing.assert_array_equal(
        scaler.transform(penguins).to_numpy(), sk.transform(penguins[list(FEATURES)].to_numpy())
    )


@pytest.mark.parametrize("seed", range(5))
def test_mean_and_scale_match_sklearn_bit_for_bit_on_other_data(penguins, seed):
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    sample = penguins.sample(int(rng.integers(5, len(penguins))), random_state=seed)
    sample[list(FEATURES)] *= rng.uniform(0.9, 1.1, size=(len(sample), len(FEATURES)))
    scaler = fit_scaler(sample)
    sk = StandardScaler().fit(sample[list(FEATURES)].to_numpy())
    np.testing.assert_array_equal(scaler.mean, sk.mean_)
    np.testing.assert_array_equal(scaler.scale, sk.scale_)
    np.testing.assert_array_equal(scaler.transform(penguins), sk.transform(penguins[list(FEATURES)].to_numpy()))


@pytest.mark.parametrize("species", ["Adelie", "Chinstrap", "Gentoo"])
def test_one_species_alone_is_not_mistaken_for_other_units(penguins, species):
    fit_scaler(penguins[penguins["species"] == species])


@pytest.mark.parametrize(
    "features, error, message",
    [
        ("body_mass_g", TypeError, "not the bare string 'body_mass_g'"),
        (["bill_length_mm", "bill_length_mm"], ValueError, r"lists \['bill_length_mm'\] more than once"),
        ([1, 2], TypeError, r"column names \(strings\)"),
        ([], ValueError, "features is empty"),
        (3, TypeError, "sequence of column names, got int"),
    ],
    ids=["bare-string", "duplicated", "not-strings", "empty", "int"],
)
def test_features_must_be_a_sequence_of_distinct_names(penguins, features, error, message):
    with pytest.raises(error, match=message):
        fit_scaler(penguins, features=features)


def test_duplicated_columns_are_refused(penguins, scaler):
    doubled = pd.concat([penguins, penguins[["body_mass_g"]]], axis=1)
    for f in (fit_scaler, scaler.transform):
        with pytest.raises(ValueError, match=r"column\(s\) \['body_mass_g'\] more than once"):
            f(doubled)


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_impossible_lengths_and_masses_are_refused_with_their_rows(penguins, scaler, value):
    bad = penguins.copy()
    bad.loc[[5, 17], "flipper_length_mm"] = value
    for f in (fit_scaler, scaler.transform):
        with pytest.raises(ValueError, match=r"zero or negative: flipper_length_mm = .* \(rows \[5, 17\]\)"):
            f(bad)


def test_kilograms_among_grams_in_the_training_rows_are_named(penguins):
    mixed = penguins.copy()
    mixed.loc[[4, 200], "body_mass_g"] /= 1000
    with pytest.raises(ValueError, match=r"mixes units: body_mass_g = .* \(rows \[4, 200\]\).*factor of 1\.\d+e\+03"):
        fit_scaler(mixed)


def test_centimetres_among_millimetres_in_the_training_rows_are_named(penguins):
    mixed = penguins.copy()
    mixed.loc[[10], "bill_length_mm"] /= 10
    with pytest.raises(ValueError, match=r"mixes units: bill_length_mm = .* \(rows \[10\]\)"):
        fit_scaler(mixed)


def test_a_whole_column_in_other_units_is_refused(penguins):
    kg = penguins.assign(body_mass_g=penguins["body_mass_g"] / 1000)
    with pytest.raises(ValueError, match=r"body_mass_g has median 4\.05, no penguin's"):
        fit_scaler(kg)


def test_infinite_training_values_are_refused(penguins):
    bad = penguins.copy()
    bad.loc[4, "bill_depth_mm"] = -np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite values in 1 row, e.g. \[4\]"):
        fit_scaler(bad)


def test_the_fitted_scaler_never_produces_non_finite_output():
    # columns without a unit suffix skip the unit checks; their variance overflows
    huge = pd.DataFrame({"x": [-1e308, 1e308, 0.0], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="too large to scale"):
        fit_scaler(huge, features=["x", "y"])


def test_a_scaler_is_built_from_finite_statistics_only():
    with pytest.raises(ValueError, match="scale must hold one finite number per feature"):
        PenguinScaler([0.0], [np.inf], [0.0], [1.0], features=["x"])
    with pytest.raises(ValueError, match="scale must be positive"):
        PenguinScaler([0.0], [0.0], [0.0], [1.0], features=["x"])
