import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import random_posterior

from penguin_utils.assign import cluster_probabilities
from penguin_utils.io import atomic_write, book_fit_path, check_destination, load_fit, read_fit, save_fit


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


def _hidden_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_a_failed_overwrite_leaves_the_old_file_byte_identical(tmp_path, scaler):
    path = save_fit(tmp_path / "fit.nc", random_posterior(seed=1), scaler)
    before = path.read_bytes()
    unwritable = random_posterior(seed=2)
    unwritable.posterior.attrs["notes"] = {"a dict": "cannot go into a NetCDF attribute"}
    with pytest.raises(TypeError, match="Invalid value for attr 'notes'"):
        save_fit(path, unwritable, scaler, overwrite=True)
    assert path.read_bytes() == before
    assert _hidden_leftovers(tmp_path) == []
    idata, _ = load_fit(path)
    xr.testing.assert_equal(idata.posterior["w"], random_posterior(seed=1).posterior["w"])


def test_a_failure_while_writing_leaves_no_partial_file(tmp_path, scaler):
    # an object-typed variable passes the posterior checks and fails once the file is open
    odd = random_posterior(seed=3)
    odd.posterior["note"] = ("chain", np.array([{"x": 1}, {"y": 2}], dtype=object))
    with pytest.raises((TypeError, ValueError)):
        save_fit(tmp_path / "fit.nc", odd, scaler)
    assert list(tmp_path.iterdir()) == []


def test_home_is_expanded(tmp_path, scaler, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    written = save_fit("~/fit.nc", random_posterior(seed=4), scaler)
    assert written == tmp_path / "fit.nc" and written.is_file()
    idata, _ = load_fit("~/fit.nc")
    posterior, _ = read_fit("~/fit.nc")
    xr.testing.assert_identical(idata.posterior, posterior)


def test_destination_problems_each_get_their_own_message(tmp_path, scaler):
    idata = random_posterior()
    with pytest.raises(FileNotFoundError, match=r"the folder .*nowhere does not exist; create it first"):
        save_fit(tmp_path / "nowhere" / "fit.nc", idata, scaler)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"the folder .*a_file is not a folder"):
        save_fit(tmp_path / "a_file" / "fit.nc", idata, scaler)
    with pytest.raises(IsADirectoryError, match=r"is a folder; give a file name inside it"):
        save_fit(tmp_path, idata, scaler)
    with pytest.raises(IsADirectoryError, match=r"is a folder, not a fit file"):
        load_fit(tmp_path)


def test_an_unwritable_folder_is_named(tmp_path, scaler):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root ignores permission bits; sysfs takes no new files even from root
        folder = Path("/sys")
    try:
        with pytest.raises(PermissionError, match=r"the folder .* is not writable.*choose another folder"):
            save_fit(folder / "fit.nc", random_posterior(), scaler)
    finally:
        (tmp_path / "read_only").chmod(0o700)


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.999])
def test_a_truncated_file_is_called_damaged_not_foreign(tmp_path, scaler, keep):
    path = save_fit(tmp_path / "fit.nc", random_posterior(n_draw=50), scaler)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="damaged or truncated") as info:
        load_fit(path)
    assert "not a penguin-mixtures fit" not in str(info.value)


def test_a_changed_byte_is_caught_by_the_checksums(tmp_path, scaler):
    idata = random_posterior(n_chain=2, n_draw=200, seed=5)
    path = save_fit(tmp_path / "fit.nc", idata, scaler)
    data = bytearray(path.read_bytes())
    where = bytes(data).find(idata.posterior["mu"].values.astype("<f8").tobytes()[:64])
    assert where > 0
    data[where + 8] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or truncated"):
        load_fit(path)


def test_a_valid_netcdf_without_our_scaler_is_not_ours(tmp_path, scaler):
    arviz_file = tmp_path / "arviz.nc"
    random_posterior().to_netcdf(str(arviz_file))  # a real posterior, but no scaler
    with pytest.raises(ValueError, match="not a penguin-mixtures fit file \\(it has no 'penguin_scaler' group\\)"):
        load_fit(arviz_file)
    classic = tmp_path / "classic.nc"
    xr.Dataset({"a": ("x", [1.0, 2.0])}).to_netcdf(classic, format="NETCDF3_64BIT", engine="scipy")
    with pytest.raises(ValueError, match="not a penguin-mixtures fit file"):
        load_fit(classic)


def test_read_fit_gives_the_posterior_dataset_and_scaler(tmp_path, scaler, X):
    idata = random_posterior(seed=6)
    path = save_fit(tmp_path / "fit.nc", idata.posterior, scaler)  # a Dataset saves like an InferenceData
    posterior, loaded = read_fit(path)
    assert isinstance(posterior, xr.Dataset)
    xr.testing.assert_identical(posterior[["w", "mu", "chol"]], idata.posterior[["w", "mu", "chol"]])
    for name in ("mean", "scale", "data_min", "data_max"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(scaler, name))
    np.testing.assert_array_equal(cluster_probabilities(posterior, X), cluster_probabilities(idata, X))


def test_the_command_line_path_imports_no_sampler_and_no_arviz():
    code = (
        "import sys; from penguin_utils.assign import assign_clusters; from penguin_utils.io import read_fit; "
        "print(sorted(m for m in ('pymc', 'pytensor', 'arviz', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_atomic_write_replaces_only_on_success_and_clears_leftovers_of_dead_runs(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".out.csv.incomplete-{finished.stdout.strip()}.part"  # a writer that is gone
    dead.write_text("half")
    alive = tmp_path / f".out.csv.incomplete-{os.getppid()}.part"  # a writer still running
    alive.write_text("busy")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target, overwrite=True) as tmp:
        assert tmp.name == f".out.csv.incomplete-{os.getpid()}.part" and tmp.exists()
        tmp.write_text("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old" and not dead.exists() and alive.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, alive.name])
    with atomic_write(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    with pytest.raises(FileExistsError, match="exists already"), atomic_write(target):
        pass
    with pytest.raises(FileExistsError, match="also an input"):
        check_destination(target, overwrite=True, inputs=["-", target])


def test_atomic_write_swaps_a_folder_result(tmp_path):
    target = tmp_path / "out.parquet"
    for text in ["first", "second"]:
        with atomic_write(target, overwrite=True, folder=True) as tmp:
            assert tmp.is_dir()
            (tmp / "part.0.parquet").write_text(text)
        assert (target / "part.0.parquet").read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
