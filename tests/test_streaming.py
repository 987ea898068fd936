"""Assigning tables in partitions with Dask: in local threads, on a real ``distributed.LocalCluster``, and as Parquet.

Results are compared with :func:`penguin_utils.assign.assign_clusters` on the same rows; the
fit is a random posterior in the models' layout (no sampling).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import palmerpenguins
import pandas as pd
import pytest
from conftest import random_posterior

from penguin_utils import posterior as posterior_module
from penguin_utils.assign import assign_clusters
from penguin_utils.data import FEATURES
from penguin_utils.posterior import mixture_draws
from penguin_utils.streaming import LTER_COLUMNS, TableError, assign_table, inspect_table

PALMER = Path(palmerpenguins.__file__).parent / "data"


@pytest.fixture(scope="module")
def draws():
    return mixture_draws(random_posterior(n_chain=2, n_draw=20, seed=11), FEATURES)


def expected(draws, scaler, table: pd.DataFrame) -> pd.DataFrame:
    complete = table[list(FEATURES)].dropna()
    return assign_clusters(draws, scaler.transform(complete))


def assert_matches(got: pd.DataFrame, want: pd.DataFrame) -> None:
    rows = got.iloc[want.index]
    np.testing.assert_allclose(rows[["p_cluster_0", "p_cluster_1", "p_cluster_2"]], want[[0, 1, 2]], rtol=1e-12)
    np.testing.assert_array_equal(rows["cluster"].astype(int), want["cluster"])
    np.testing.assert_allclose(rows[["probability", "entropy"]], want[["probability", "entropy"]], rtol=1e-12)


def test_the_lter_table_is_recognised_and_said(draws, scaler):
    table = inspect_table(PALMER / "penguins-raw.csv", features=scaler.features)
    assert [n for n in table.names if n in FEATURES] == list(FEATURES)
    assert "Culmen Length (mm)" not in table.ids and "Comments" in table.ids
    assert any("Palmer LTER" in note for note in table.notes)


def test_header_problems_are_refused_before_reading(tmp_path, scaler):
    path = tmp_path / "t.csv"
    path.write_text("bill_length_mm,bill_depth_mm,flipper_length_mm\n1,2,3\n")
    with pytest.raises(TableError, match="missing the column\\(s\\) body_mass_g"):
        inspect_table(path, features=scaler.features)
    path.write_text(",".join([*FEATURES, "body_mass_g"]) + "\n1,2,3,4,5\n")
    with pytest.raises(TableError, match="body_mass_g in more than one column"):
        inspect_table(path, features=scaler.features)
    with pytest.raises(TableError, match="no column\\(s\\) \\['Mass'\\]"):
        inspect_table(path, features=scaler.features, columns={"body_mass_g": "Mass"})


def test_partitions_in_local_threads_equal_one_pass(tmp_path, draws, scaler):
    table = inspect_table(PALMER / "penguins.csv", features=scaler.features)
    one = assign_table(draws, scaler, table, tmp_path / "one.csv")
    many = assign_table(draws, scaler, table, tmp_path / "many.csv", blocksize=2000, workers=2)
    assert one == many and one.n_rows == 344 and one.missing == [5, 273]
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "many.csv").read_bytes()
    got = pd.read_csv(tmp_path / "many.csv")
    assert_matches(got, expected(draws, scaler, pd.read_csv(PALMER / "penguins.csv")))


def test_threads_without_dask_equal_one_thread(tmp_path, draws, scaler):
    penguins = pd.read_csv(PALMER / "penguins.csv")
    pd.concat([penguins] * 8, ignore_index=True).to_csv(tmp_path / "many.csv", index=False)  # 2752 rows, 150 kB
    table = inspect_table(tmp_path / "many.csv", features=scaler.features)
    one = assign_table(draws, scaler, table, tmp_path / "one.csv", workers=1)
    three = assign_table(draws, scaler, table, tmp_path / "three.csv", workers=3)  # three row ranges at once
    assert one == three and one.n_rows == 2752 and len(one.missing) == 16
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "three.csv").read_bytes()
    assert_matches(pd.read_csv(tmp_path / "three.csv"), expected(draws, scaler, pd.read_csv(tmp_path / "many.csv")))


def test_the_assign_path_does_not_check_the_draws_again(tmp_path, draws, scaler, monkeypatch):
    calls = []
    monkeypatch.setattr(posterior_module, "_check_values", lambda *a: calls.append(a))
    table = inspect_table(PALMER / "penguins.csv", features=scaler.features)
    assign_table(draws, scaler, table, tmp_path / "out.csv")
    assert calls == []
    mixture_draws(random_posterior(seed=1))  # the check itself is still the one that runs
    assert len(calls) == 1


def test_parquet_in_and_out(tmp_path, draws, scaler):
    raw = pd.read_csv(PALMER / "penguins-raw.csv")
    raw.to_parquet(tmp_path / "raw.parquet")
    table = inspect_table(tmp_path / "raw.parquet", features=scaler.features)
    assert table.kind == "parquet" and table.where == "row"
    done = assign_table(draws, scaler, table, tmp_path / "out.parquet", blocksize=2000, workers=2)
    assert done.n_rows == 344 and done.missing == [4, 272]  # rows counted from 1, no header
    got = pd.read_parquet(tmp_path / "out.parquet")
    assert list(got["Individual ID"]) == list(raw["Individual ID"])
    assert_matches(got, expected(draws, scaler, raw.rename(columns=LTER_COLUMNS)))


@pytest.mark.slow
def test_a_distributed_cluster_on_loopback(tmp_path, draws, scaler):
    from distributed import LocalCluster

    source = PALMER / "penguins.csv"
    table = inspect_table(source, features=scaler.features)
    local = assign_table(draws, scaler, table, tmp_path / "local.csv")
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        done = assign_table(
            draws, scaler, table, tmp_path / "cluster.csv", scheduler=cluster.scheduler_address, blocksize=2000
        )
    assert done == local
    assert (tmp_path / "cluster.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert_matches(pd.read_csv(tmp_path / "cluster.csv"), expected(draws, scaler, pd.read_csv(source)))
    with pytest.raises(TableError, match="cannot reach the Dask scheduler"):
        assign_table(draws, scaler, table, tmp_path / "none.csv", scheduler="tcp://127.0.0.1:9", blocksize=2000)
    assert not (tmp_path / "none.csv").exists()
