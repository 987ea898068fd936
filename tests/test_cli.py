"""The ``penguin-utils`` command, run as a subprocess on real files, good and bad.

Every ``assign`` test uses a small random posterior saved with the real scaler (no sampling)
and compares the command's output with :func:`penguin_utils.assign.assign_clusters` called in
Python on the same rows. The files are the ones palmerpenguins itself ships (``penguins.csv``
with its two unmeasured penguins, the LTER's ``penguins_raw.csv``) and spreadsheet-style
exports of them. One slow test samples a small fit with ``penguin-utils fit``.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import palmerpenguins
import pandas as pd
import pytest
import xarray as xr
from conftest import random_posterior

from penguin_utils.assign import assign_clusters
from penguin_utils.data import FEATURES
from penguin_utils.io import load_fit, read_draws, read_fit, save_fit
from penguin_utils.posterior import mixture_draws
from penguin_utils.streaming import LTER_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("penguin-utils")
# The console script when the project is installed (pip install -e .), else the same main().
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "penguin_utils"]
PALMER = Path(palmerpenguins.__file__).parent / "data"
PROBABILITIES = ["p_cluster_0", "p_cluster_1", "p_cluster_2", "probability", "entropy"]


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
def fit_file(tmp_path_factory, scaler):
    """A saved fit: a random posterior in the models' layout with the real scaler."""
    return save_fit(tmp_path_factory.mktemp("fit") / "fit.nc", random_posterior(n_chain=2, n_draw=20, seed=3), scaler)


@pytest.fixture(scope="session")
def penguins_csv(tmp_path_factory, penguins):
    """The real penguins as a user would have them: an id with leading zeros, other columns."""
    table = penguins.reset_index(drop=True)
    table.insert(0, "id", [f"{i:05d}" for i in range(len(table))])
    path = tmp_path_factory.mktemp("data") / "penguins.csv"
    table.to_csv(path, index=False)
    return path


def expected_assignment(fit_file, measurements: pd.DataFrame) -> pd.DataFrame:
    """``assign_clusters`` in Python on the rows with every measurement."""
    idata, scaler = load_fit(fit_file)
    complete = measurements[list(FEATURES)].astype(float).dropna()
    return assign_clusters(idata, scaler.transform(complete))


def assert_matches(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The command's rows equal ``expected`` (indexed by row position in the input)."""
    rows = got.loc[expected.index]
    np.testing.assert_allclose(rows[PROBABILITIES[:3]], expected[[0, 1, 2]], rtol=1e-12)
    np.testing.assert_array_equal(rows["cluster"], expected["cluster"])
    np.testing.assert_allclose(rows[["probability", "entropy"]], expected[["probability", "entropy"]], rtol=1e-12)


def read_output(path_or_text) -> pd.DataFrame:
    source = io.StringIO(path_or_text) if isinstance(path_or_text, str) else path_or_text
    empty = {column: [""] for column in [*PROBABILITIES, "cluster"]}
    return pd.read_csv(source, dtype={"id": str, "missing": str}, keep_default_na=False, na_values=empty)


def test_entry_point_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["penguin-utils"] == "penguin_utils.cli:main"


COMMANDS = ["fit", "assign", "check", "precompile"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=["main", *COMMANDS])
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: penguin-utils")


def test_cli_is_parsing_and_dispatch_only():
    # About 50 lines a command: the work is done by the modules each command imports.
    assert len((ROOT / "penguin_utils" / "cli.py").read_text().splitlines()) < 50 * len(COMMANDS) + 25


@pytest.mark.slow
def test_fit_saves_aligned_chains_that_load(tmp_path):
    path = tmp_path / "fit.nc"
    result = run("fit", "--draws", 100, "--chains", 2, "--seed", 3, "--no-progress", "--out", path)
    assert result.returncode == 0, result.stderr
    assert "r_hat" in result.stdout and f"Saved the fit and its scaler to {path}" in result.stdout
    idata, scaler = load_fit(path)
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
    got = read_output(out)
    source = pd.read_csv(penguins_csv, dtype=str, keep_default_na=False)
    ids = [c for c in source.columns if c not in FEATURES]
    copied = pd.read_csv(out, dtype=str, keep_default_na=False)[ids]
    assert list(got.columns) == ids + ["p_cluster_0", "p_cluster_1", "p_cluster_2", "cluster", "probability"] + [
        "entropy",
        "missing",
    ]
    pd.testing.assert_frame_equal(copied, source[ids])  # "00007" stays "00007"
    assert (got["missing"] == "").all()
    assert_matches(got, expected_assignment(fit_file, pd.read_csv(penguins_csv)))


def test_stdin_and_dask_partitions_give_the_same_answer(fit_file, penguins_csv):
    whole = run("assign", fit_file, penguins_csv)
    assert whole.returncode == 0, whole.stderr
    assert len(read_output(whole.stdout)) == 342
    piped = run("assign", fit_file, "-", stdin=penguins_csv.read_text())
    assert piped.stdout == whole.stdout
    # about 50 penguins per partition, assigned by two local Dask threads
    partitioned = run("assign", fit_file, penguins_csv, "--blocksize", 4000, "--jobs", 2)
    assert partitioned.returncode == 0, partitioned.stderr
    assert partitioned.stdout == whole.stdout


def test_palmerpenguins_csv_keeps_and_flags_its_two_unmeasured_penguins(tmp_path, fit_file):
    source = PALMER / "penguins.csv"
    out = tmp_path / "assigned.csv"
    result = run("assign", fit_file, source, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "warning: 2 penguins lack a measurement" in result.stderr and "lines 5, 273" in result.stderr
    assert "Assigned 342 of 344 penguins" in result.stderr
    got = read_output(out)
    raw = pd.read_csv(source)
    assert len(got) == 344 and list(got["species"]) == list(raw["species"])
    flagged = got.index[got["missing"] != ""]
    assert list(flagged + 2) == [5, 273]  # line 1 is the header
    assert (got.loc[flagged, "missing"] == " ".join(FEATURES)).all()
    assert got.loc[flagged, PROBABILITIES + ["cluster"]].isna().all().all()
    assert_matches(got, expected_assignment(fit_file, raw))
    # the same file refused whole on request, naming the lines
    refused = run("assign", fit_file, source, "--refuse-missing", "--out", tmp_path / "refused.csv")
    assert_one_line_error(refused, "bill_length_mm is missing on lines 5, 273")
    assert not (tmp_path / "refused.csv").exists()


def test_the_palmer_lter_table_is_read_under_its_own_names(tmp_path, fit_file):
    source = PALMER / "penguins-raw.csv"
    out = tmp_path / "assigned.csv"
    result = run("assign", fit_file, source, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "measurements from the Palmer LTER names: 'Culmen Length (mm)' as bill_length_mm" in result.stderr
    got = read_output(out)
    raw = pd.read_csv(source).rename(columns=LTER_COLUMNS)
    assert len(got) == 344 and list(got["Individual ID"]) == list(raw["Individual ID"])
    assert "Adult, 1 Egg Stage" in set(got["Stage"])  # a quoted field with a comma, copied through
    assert_matches(got, expected_assignment(fit_file, raw))


def test_other_names_are_mapped_with_columns(tmp_path, fit_file, penguins_csv):
    names = {
        "bill_length_mm": "Bill L",
        "bill_depth_mm": "Bill D",
        "flipper_length_mm": "Flipper",
        "body_mass_g": "Mass",
    }
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(penguins_csv, dtype=str).rename(columns=names).to_csv(renamed, index=False)
    assert_one_line_error(run("assign", fit_file, renamed), "missing the column(s)", "--columns FEATURE=NAME")
    mapping = ",".join(f"{feature}={name}" for feature, name in names.items())
    result = run("assign", fit_file, renamed, "--columns", mapping)
    assert result.returncode == 0, result.stderr
    assert "measurements from the --columns mapping: 'Bill L' as bill_length_mm" in result.stderr
    assert_matches(read_output(result.stdout), expected_assignment(fit_file, pd.read_csv(penguins_csv)))
    assert_one_line_error(run("assign", fit_file, renamed, "--columns", "wing=Bill L"), "'wing'", "not measurements")


def test_a_measurement_column_twice_is_refused(tmp_path, fit_file, penguins_csv):
    table = pd.read_csv(penguins_csv, dtype=str)
    twice = tmp_path / "twice.csv"
    pd.concat([table, table[["body_mass_g"]]], axis=1).to_csv(twice, index=False)
    assert twice.read_text().splitlines()[0].endswith(",body_mass_g,sex,year,body_mass_g")
    assert_one_line_error(run("assign", fit_file, twice), "the measurement(s) body_mass_g in more than one column")
    both = tmp_path / "both.csv"  # the book's name and the LTER's for the same measurement
    pd.read_csv(penguins_csv).assign(**{"Culmen Length (mm)": 1.0}).to_csv(both, index=False)
    result = run("assign", fit_file, both, "--columns", "bill_length_mm=Culmen Length (mm)")
    assert_one_line_error(result, "bill_length_mm in more than one column")


def test_semicolons_and_decimal_commas_are_read(tmp_path, fit_file, penguins_csv):
    table = pd.read_csv(penguins_csv, dtype={"id": str})
    european = tmp_path / "european.csv"
    table.to_csv(european, sep=";", decimal=",", index=False)
    assert "39,1" in european.read_text()
    result = run("assign", fit_file, european)
    assert result.returncode == 0, result.stderr
    assert "read as semicolon-separated with decimal commas" in result.stderr
    assert_matches(read_output(result.stdout), expected_assignment(fit_file, table))


def test_spaces_around_header_names_are_stripped_and_said(tmp_path, fit_file, penguins_csv):
    text = penguins_csv.read_text()
    header, rest = text.split("\n", 1)
    padded = tmp_path / "padded.csv"
    padded.write_text(header.replace("bill_depth_mm", " bill_depth_mm ") + "\n" + rest)
    result = run("assign", fit_file, padded)
    assert result.returncode == 0, result.stderr
    assert "removed spaces around the column name(s) ' bill_depth_mm '" in result.stderr
    assert result.stdout == run("assign", fit_file, penguins_csv).stdout


ENCODINGS = {
    # name: how the file is written from the CSV text
    "byte-order mark": lambda text: b"\xef\xbb\xbf" + text.encode(),
    "CRLF": lambda text: text.replace("\n", "\r\n").encode(),
    "gzip": lambda text: gzip.compress(text.encode()),
    "latin-1": lambda text: text.replace("Dream", "Dréam").encode("latin-1"),
}


@pytest.mark.parametrize("case", list(ENCODINGS))
def test_what_spreadsheets_and_tools_write_is_read(tmp_path, fit_file, penguins_csv, case):
    path = tmp_path / "penguins.csv"
    path.write_bytes(ENCODINGS[case](penguins_csv.read_text()))
    result = run("assign", fit_file, path)
    assert result.returncode == 0, result.stderr
    got = read_output(result.stdout)
    assert list(got["id"]) == list(pd.read_csv(penguins_csv, dtype={"id": str})["id"])
    assert_matches(got, expected_assignment(fit_file, pd.read_csv(penguins_csv)))
    if case == "latin-1":
        assert "read as Latin-1" in result.stderr and "Dréam" in set(got["island"])


def test_columns_in_any_order(tmp_path, fit_file, penguins_csv):
    table = pd.read_csv(penguins_csv, dtype=str)
    shuffled = tmp_path / "shuffled.csv"
    table[table.columns[::-1]].to_csv(shuffled, index=False)
    result = run("assign", fit_file, shuffled)
    assert result.returncode == 0, result.stderr
    assert_matches(read_output(result.stdout), expected_assignment(fit_file, table))


def test_an_existing_output_is_kept_without_force(tmp_path, fit_file, penguins_csv):
    out = tmp_path / "assigned.csv"
    out.write_text("precious\n")
    result = run("assign", fit_file, penguins_csv, "--out", out)
    assert_one_line_error(result, "exists already", "--force")
    assert out.read_text() == "precious\n"
    assert run("assign", fit_file, penguins_csv, "--out", out, "--force").returncode == 0
    assert out.read_text().startswith("id,")
    assert_one_line_error(run("assign", fit_file, penguins_csv, "--out", penguins_csv, "--force"), "also an input")
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
    # name: (edit of the first 30 penguins, extra options, phrases the one-line message must contain)
    "missing-column": (lambda t: t.drop(columns="bill_depth_mm"), [], ["missing the column(s) bill_depth_mm"]),
    "non-numeric": (_set("flipper_length_mm", 4, "tall"), [], ["flipper_length_mm is not a number on line 6"]),
    "missing-value": (_set("body_mass_g", 9, ""), ["--refuse-missing"], ["body_mass_g is missing on line 11"]),
    "NA-value": (_set("body_mass_g", 2, "NA"), ["--refuse-missing"], ["body_mass_g is missing on line 4"]),
    "kilograms": (lambda t: t.assign(body_mass_g=pd.to_numeric(t.body_mass_g) / 1000), [], ["other units"]),
    "infinite": (_set("bill_length_mm", 0, "inf"), [], ["bill_length_mm is not a number on line 2"]),
    "column-clash": (lambda t: t.assign(cluster="x"), [], ["already has the column(s) cluster"]),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables_get_one_line_and_no_output(tmp_path, fit_file, penguins_csv, case):
    edit, options, phrases = BAD_TABLES[case]
    bad = _edit(penguins_csv, tmp_path, edit)
    out = tmp_path / "assigned.csv"
    assert_one_line_error(run("assign", fit_file, bad, "--out", out, *options), *phrases)
    assert not out.exists()
    assert list(tmp_path.glob(".*part")) == []


def test_a_problem_late_in_a_partitioned_file_leaves_no_partial_output(tmp_path, fit_file, penguins_csv):
    bad = tmp_path / "bad.csv"
    table = pd.read_csv(penguins_csv, dtype=str)
    table.loc[300, "bill_length_mm"] = "?"
    table.to_csv(bad, index=False)
    out = tmp_path / "assigned.csv"
    result = run("assign", fit_file, bad, "--out", out, "--blocksize", 2000, "--jobs", 2)
    assert_one_line_error(result, "bill_length_mm is not a number on line 302")
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_empty_header_only_binary_and_folder_inputs(tmp_path, fit_file):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(run("assign", fit_file, empty), "is empty")
    header = tmp_path / "header.csv"
    header.write_text(",".join(FEATURES) + "\n")
    assert_one_line_error(run("assign", fit_file, header), "has a header but no penguins")
    assert_one_line_error(run("assign", fit_file, "-", stdin=""), "standard input is empty")
    assert_one_line_error(run("assign", fit_file, tmp_path / "nope.csv"), "no such file")
    junk = tmp_path / "junk.csv"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    assert_one_line_error(run("assign", fit_file, junk), "not a text CSV file")
    assert_one_line_error(run("assign", fit_file, tmp_path), "is a folder")


def test_the_command_reads_the_draws_that_read_fit_reads(fit_file):
    draws, scaler = read_draws(fit_file)
    posterior, saved = read_fit(fit_file)
    want = mixture_draws(posterior, saved.features)
    for name in ("w", "mu", "chol"):
        np.testing.assert_array_equal(getattr(draws, name), getattr(want, name))
    assert draws.coords.keys() == want.coords.keys()
    for name, values in want.coords.items():
        np.testing.assert_array_equal(draws.coords[name], values)
    assert scaler.features == saved.features
    for name in ("mean", "scale", "data_min", "data_max"):
        np.testing.assert_array_equal(getattr(scaler, name), getattr(saved, name))


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
    result = run("assign", "fit.nc", "x.csv", "--columns", "bill_length_mm")
    assert result.returncode == 2 and "expected FEATURE=NAME pairs" in result.stderr


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
        f"{' '.join(COMMAND)} assign {fit_file} {penguins_csv} | head -n 3",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert len(pipeline.stdout.splitlines()) == 3
    assert "Traceback" not in pipeline.stderr and "Error" not in pipeline.stderr


def test_assign_imports_no_modelling_libraries_and_no_dask_for_a_small_table(tmp_path, fit_file, penguins_csv):
    # the fit is read with netCDF4 alone: xarray (which imports dask when decoding strings) costs half a second
    heavy = ("pymc", "pytensor", "arviz", "sklearn", "xarray", "dask", "distributed")
    code = (
        "import sys\n"
        "from penguin_utils.cli import main\n"
        f"status = main(['assign', {str(fit_file)!r}, {str(penguins_csv)!r}, '--out', {str(tmp_path / 'a.csv')!r}])\n"
        f"print(status, sorted(m for m in {heavy} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "0 []", result.stderr


def test_a_killed_run_leaves_the_old_output_and_the_next_run_removes_its_leftover(tmp_path, scaler, penguins):
    fit = save_fit(tmp_path / "big_fit.nc", random_posterior(n_chain=4, n_draw=1000, seed=5), scaler)
    rows = penguins.iloc[np.random.default_rng(0).integers(len(penguins), size=60_000)]
    source = tmp_path / "many.csv"
    rows.to_csv(source, index=False)
    out = tmp_path / "assigned.csv"
    out.write_text("the old result\n")
    process = subprocess.Popen([*COMMAND, "assign", str(fit), str(source), "--out", str(out), "--force"])
    partial = tmp_path / f".assigned.csv.incomplete-{process.pid}.part"
    deadline = time.monotonic() + 120
    while not partial.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed; give it more work"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert out.read_text() == "the old result\n"
    assert partial.exists()  # named for what it is
    mine = tmp_path / f".assigned.csv.incomplete-{os.getpid()}.part"  # a live writer's file is left alone
    mine.write_text("")
    old_style = tmp_path / ".assigned.csv.999999999.part"  # as earlier versions named them
    old_style.write_text("")
    small = tmp_path / "few.csv"
    penguins.head(5).to_csv(small, index=False)
    result = run("assign", fit, small, "--out", out, "--force")
    assert result.returncode == 0, result.stderr
    assert not partial.exists() and not old_style.exists() and mine.exists()
    assert len(read_output(out)) == 5
