"""The ``penguin-utils`` command, run as a subprocess on real files, good and bad.

One short fit (2 chains x 100 draws, about 20-40 s with warm compile caches) is made once
per session with ``penguin-utils fit``; every ``assign`` test uses it and compares the
command's output with :func:`penguin_utils.assign.assign_clusters` called in Python.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from penguin_utils.assign import assign_clusters
from penguin_utils.data import FEATURES
from penguin_utils.io import load_fit

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("penguin-utils")
# The console script when the project is installed (pip install -e .), else the same main().
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "penguin_utils"]


def run(*args, stdin=None, cwd=None):
    return subprocess.run([*COMMAND, *map(str, args)], input=stdin, capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(result, *phrases):
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


@pytest.fixture(scope="session")
def fit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    result = run("fit", "--draws", 100, "--chains", 2, "--seed", 3, "--no-progress", "--out", path)
    assert result.returncode == 0, result.stderr
    assert "r_hat" in result.stdout and f"Saved the fit and its scaler to {path}" in result.stdout
    return path


@pytest.fixture(scope="session")
def penguins_csv(tmp_path_factory, penguins):
    """The real penguins as a user would have them: an id with leading zeros, other columns."""
    table = penguins.reset_index(drop=True)
    table.insert(0, "id", [f"{i:05d}" for i in range(len(table))])
    path = tmp_path_factory.mktemp("data") / "penguins.csv"
    table.to_csv(path, index=False)
    return path


def expected_assignment(fit_file, csv):
    idata, scaler = load_fit(fit_file)
    new = pd.read_csv(csv)
    return assign_clusters(idata, scaler.transform(new))


def test_entry_point_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["penguin-utils"] == "penguin_utils.cli:main"


@pytest.mark.parametrize("command", [[], ["fit"], ["assign"], ["check"]], ids=["main", "fit", "assign", "check"])
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: penguin-utils")


def test_fit_saves_aligned_chains_that_load(fit_file):
    idata, scaler = load_fit(fit_file)
    assert dict(idata.posterior["mu"].sizes) == {"chain": 2, "draw": 100, "cluster": 3, "feature": 4}
    assert scaler.features == FEATURES
    # Aligned: every chain puts the same cluster at the same place (means far apart vs. within-chain spread).
    chain_means = idata.posterior["mu"].mean("draw").values
    assert np.abs(chain_means[0] - chain_means[1]).max() < 0.3


def test_assign_matches_assign_clusters(tmp_path, fit_file, penguins_csv):
    out = tmp_path / "assigned.csv"
    result = run("assign", fit_file, penguins_csv, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "Assigned 342 penguins" in result.stderr
    got = pd.read_csv(out, dtype={"id": str})
    expected = expected_assignment(fit_file, penguins_csv)
    source = pd.read_csv(penguins_csv, dtype={"id": str})
    ids = [c for c in source.columns if c not in FEATURES]
    assert list(got.columns) == ids + ["p_cluster_0", "p_cluster_1", "p_cluster_2", "cluster", "probability", "entropy"]
    pd.testing.assert_frame_equal(got[ids], source[ids])  # "00007" stays "00007"
    np.testing.assert_allclose(got.filter(like="p_cluster_").to_numpy(), expected[[0, 1, 2]].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(got["cluster"], expected["cluster"])
    np.testing.assert_allclose(got[["probability", "entropy"]], expected[["probability", "entropy"]], rtol=1e-12)


def test_stdin_and_small_chunks_give_the_same_answer(tmp_path, fit_file, penguins_csv):
    whole = run("assign", fit_file, penguins_csv)
    assert whole.returncode == 0, whole.stderr
    a = pd.read_csv(io.StringIO(whole.stdout))
    assert len(a) == 342
    for jobs in [1, 2]:  # one process, and chunks assigned by two worker processes
        piped = run("assign", fit_file, "-", "--chunk-rows", 7, "--jobs", jobs, stdin=penguins_csv.read_text())
        assert piped.returncode == 0, piped.stderr
        pd.testing.assert_frame_equal(a, pd.read_csv(io.StringIO(piped.stdout)), rtol=1e-12)


def test_an_existing_output_is_kept_without_force(tmp_path, fit_file, penguins_csv):
    out = tmp_path / "assigned.csv"
    out.write_text("precious\n")
    result = run("assign", fit_file, penguins_csv, "--out", out)
    assert_one_line_error(result, "exists already", "--force")
    assert out.read_text() == "precious\n"
    assert run("assign", fit_file, penguins_csv, "--out", out, "--force").returncode == 0
    assert out.read_text().startswith("id,")
    # fit checks its --out before spending any time on sampling
    fit_out = tmp_path / "fit.nc"
    fit_out.write_text("precious\n")
    assert_one_line_error(run("fit", "--out", fit_out), "exists already")
    assert fit_out.read_text() == "precious\n"


def _edit(penguins_csv, tmp_path, edit, name="bad.csv"):
    table = pd.read_csv(penguins_csv, dtype=str, keep_default_na=False).head(30)
    table = edit(table)
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


def _set(column, row, value):
    def edit(table):
        table.loc[row, column] = value
        return table

    return edit


BAD_TABLES = {
    # name: (edit of the first 30 penguins, phrases the one-line message must contain)
    "missing-column": (lambda t: t.drop(columns="bill_depth_mm"), ["missing the column(s) bill_depth_mm"]),
    "non-numeric": (_set("flipper_length_mm", 4, "tall"), ["flipper_length_mm is not a number on line(s) 6", "'tall'"]),
    "missing-value": (_set("body_mass_g", 9, ""), ["body_mass_g is missing on line(s) 11"]),
    "NA-value": (_set("body_mass_g", 2, "NA"), ["body_mass_g is missing on line(s) 4"]),
    "kilograms": (lambda t: t.assign(body_mass_g=pd.to_numeric(t.body_mass_g) / 1000), ["other units", "body_mass_g"]),
    "infinite": (_set("bill_length_mm", 0, "inf"), ["bill_length_mm is not a number on line(s) 2"]),
    "column-clash": (lambda t: t.assign(cluster="x"), ["already has the column(s) cluster"]),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables_get_one_line_and_no_output(tmp_path, fit_file, penguins_csv, case):
    edit, phrases = BAD_TABLES[case]
    bad = _edit(penguins_csv, tmp_path, edit)
    out = tmp_path / "assigned.csv"
    assert_one_line_error(run("assign", fit_file, bad, "--out", out), *phrases)
    assert not out.exists()
    assert list(tmp_path.glob(".*part")) == []


def test_a_problem_late_in_a_long_file_leaves_no_partial_output(tmp_path, fit_file, penguins_csv):
    bad = _edit(penguins_csv, tmp_path, _set("bill_length_mm", 27, "?"))
    out = tmp_path / "assigned.csv"
    result = run("assign", fit_file, bad, "--out", out, "--chunk-rows", 5)
    assert_one_line_error(result, "bill_length_mm is not a number on line(s) 29")
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_empty_and_header_only_files(tmp_path, fit_file):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(run("assign", fit_file, empty), "is empty")
    header = tmp_path / "header.csv"
    header.write_text(",".join(FEATURES) + "\n")
    assert_one_line_error(run("assign", fit_file, header), "has a header but no penguins")
    assert_one_line_error(run("assign", fit_file, "-", stdin=""), "standard input is empty")
    assert_one_line_error(run("assign", fit_file, tmp_path / "nope.csv"), "no such file")


def test_fit_files_that_are_not_ours_or_damaged(tmp_path, fit_file, penguins_csv):
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"a": ("x", [1.0, 2.0])}).to_netcdf(foreign)
    assert_one_line_error(run("assign", foreign, penguins_csv), f"cannot use {foreign} as a fit")
    damaged = tmp_path / "damaged.nc"
    data = fit_file.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run("assign", damaged, penguins_csv), f"cannot use {damaged} as a fit")
    text = tmp_path / "notes.nc"
    text.write_text("not a netcdf file\n")
    assert_one_line_error(run("assign", text, penguins_csv), f"cannot use {text} as a fit")
    assert_one_line_error(run("assign", tmp_path / "missing.nc", penguins_csv), "no fit file", "penguin-utils fit")


def test_usage_errors_are_argparse_one_liners(tmp_path):
    result = run("fit", "--clusters", 0, "--out", tmp_path / "f.nc")
    assert result.returncode == 2 and "expected a number >= 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_module_entry_point_runs_the_same_command(fit_file, penguins_csv):
    via_module = subprocess.run(
        [sys.executable, "-m", "penguin_utils", "assign", str(fit_file), str(penguins_csv)],
        capture_output=True,
        text=True,
    )
    assert via_module.returncode == 0, via_module.stderr
    assert via_module.stdout == run("assign", fit_file, penguins_csv).stdout


@pytest.mark.skipif(shutil.which("head") is None, reason="needs the head command")
def test_a_closed_pipe_is_not_an_error(fit_file, penguins_csv):
    pipeline = subprocess.run(
        f"{' '.join(COMMAND)} assign {fit_file} {penguins_csv} --chunk-rows 10 | head -n 3",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert len(pipeline.stdout.splitlines()) == 3
    assert "Traceback" not in pipeline.stderr and "Error" not in pipeline.stderr


def test_assign_imports_no_modelling_libraries(tmp_path, fit_file, penguins_csv):
    code = (
        "import sys\n"
        "from penguin_utils.cli import main\n"
        f"status = main(['assign', {str(fit_file)!r}, {str(penguins_csv)!r}, '--out', {str(tmp_path / 'a.csv')!r}])\n"
        "print(status, sorted(m for m in ('pymc', 'pytensor', 'arviz', 'sklearn') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "0 []", result.stderr
