import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

from conftest import random_posterior
from penguin_utils.assign import cluster_probabilities
from penguin_utils.io import book_fit_path, load_fit, save_fit


def test_save_load_assign_in_a_fresh_process(tmp_path, penguins, scaler, X):
    idata = random_posterior(n_chain=2, n_draw=5, seed=7)
    path = save_fit(tmp_path / "fit.nc", idata, scaler)
    expected = cluster_probabilities(idata, X)
    out = tmp_path / "probs.npy"
    code = textwrap.dedent(
        f"""
        import numpy as np
        from penguin_utils.assign import cluster_probabilities
        from penguin_utils.data import load_penguins
        from penguin_utils.io import load_fit
        idata, scaler = load_fit({str(path)!r})
        np.save({str(out)!r}, cluster_probabilities(idata, scaler.transform(load_penguins())).to_numpy())
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(out), expected.to_numpy())


def test_loaded_scaler_behaves_like_the_saved_one(tmp_path, penguins, scaler):
    path = save_fit(tmp_path / "fit.nc", random_posterior(), scaler)
    idata, loaded = load_fit(path)
    np.testing.assert_array_equal(loaded.transform(penguins).to_numpy(), scaler.transform(penguins).to_numpy())
    np.testing.assert_array_equal(loaded.data_min, scaler.data_min)
    assert loaded.features == scaler.features
    kg = penguins.head(2).assign(body_mass_g=lambda d: d.body_mass_g / 1000)
    with pytest.raises(ValueError, match="other units"):
        loaded.transform(kg)
    xr.testing.assert_equal(idata.posterior["mu"], random_posterior().posterior["mu"])


def test_existing_file_is_not_overwritten_silently(tmp_path, scaler):
    path = save_fit(tmp_path / "fit.nc", random_posterior(seed=1), scaler)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_fit(path, random_posterior(seed=2), scaler)
    save_fit(path, random_posterior(seed=2), scaler, overwrite=True)
    idata, _ = load_fit(path)
    xr.testing.assert_equal(idata.posterior["w"], random_posterior(seed=2).posterior["w"])


def test_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="No fit file"):
        load_fit(tmp_path / "nope.nc")
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"a": ("x", [1.0, 2.0])}).to_netcdf(foreign)
    with pytest.raises(ValueError, match="not a penguin-mixtures fit file"):
        load_fit(foreign)
    text = tmp_path / "text.nc"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a penguin-mixtures fit file"):
        load_fit(text)


def test_save_checks_its_inputs(tmp_path, scaler):
    with pytest.raises(TypeError, match="PenguinScaler"):
        save_fit(tmp_path / "fit.nc", random_posterior(), object())
    bad = random_posterior()
    bad.posterior = bad.posterior.drop_vars("chol")
    with pytest.raises(ValueError, match="lacks the variable"):
        save_fit(tmp_path / "fit.nc", bad, scaler)
    assert not (tmp_path / "fit.nc").exists()


def test_book_fit_path_names_a_file_in_a_created_folder(tmp_path):
    folder = tmp_path / "fits"
    path = book_fit_path("categorical", folder)
    assert path == folder / "categorical.nc"
    assert folder.is_dir() and not path.exists()
    for bad in ["", "a/b", "..\\x", 3]:
        with pytest.raises(ValueError, match="plain file name"):
            book_fit_path(bad, folder)
