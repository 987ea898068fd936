"""write_csv writes, byte for byte, what pandas' to_csv writes: the reference is pandas itself."""

import io

import numpy as np
import pandas as pd
import pytest

from penguin_utils.csv_output import write_csv


def pandas_bytes(frame: pd.DataFrame, header: bool = True) -> bytes:
    return frame.to_csv(index=False, header=header, lineterminator="\n").encode()


def written(frame: pd.DataFrame, header: bool = True) -> bytes:
    sink = io.BytesIO()
    write_csv(frame, sink, header=header)
    return sink.getvalue()


def test_every_kind_of_float_is_written_as_repr_writes_it():
    rng = np.random.default_rng(0)
    any_bits = rng.integers(0, 2**64, size=200_000, dtype=np.uint64).view(np.float64)  # NaN payloads too
    scaled = rng.random(100_000) * 10.0 ** rng.integers(-30, 30, 100_000)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1.7976931348623157e308, 1e-5, 1.5e-5, 1e-4, 1e15]
    edges += [1e16, 9999999999999998.0, 123456789012345.6, 1e21, 1e22, 100.0, -2.5e-9, 1e-300, 0.1 + 0.2]
    values = np.concatenate([any_bits, scaled, rng.integers(-(10**6), 10**6, 1000).astype(float), edges])
    frame = pd.DataFrame({"x": values, "y": -values})
    assert written(frame) == pandas_bytes(frame)
    # and what pandas writes is repr's text (NaN as an empty field)
    fields = written(frame).decode().splitlines()[1:]
    assert [f.split(",")[0] for f in fields[-len(edges) :]] == ["" if np.isnan(v) else repr(v) for v in edges]


def test_strings_are_quoted_where_pandas_quotes_them():
    text = ["007", "a,b", 'say "hi"', "two\nlines", "cr\ronly", " padded ", "", "tab\there", "é ñ 企鹅", None]
    frame = pd.DataFrame(
        {
            "id": pd.Series(text, dtype="str"),
            "plain": pd.Series(text, dtype=object),
            "cluster": pd.array([0, 1, None, 2, 0, 1, 2, 0, 1, None], dtype="Int64"),
            "n": np.arange(10),
            "p": np.linspace(0, 1, 10),
        }
    )
    assert written(frame) == pandas_bytes(frame)
    assert written(frame.iloc[3:], header=False) == pandas_bytes(frame.iloc[3:], header=False)


def test_a_header_that_needs_quotes_and_an_empty_frame():
    frame = pd.DataFrame({"Body Mass (g)": [3750.0], 'odd "name", here': ["x"]})
    assert written(frame) == pandas_bytes(frame)
    assert written(frame.iloc[:0]) == pandas_bytes(frame.iloc[:0]) == b'Body Mass (g),"odd ""name"", here"\n'
    twice = pd.DataFrame([[0.5, "a"]], columns=["p", "p"])
    assert written(twice) == pandas_bytes(twice) == b"p,p\n0.5,a\n"


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([True, False]),  # booleans, dates: a Parquet input's identifier columns
        pd.Series(pd.to_datetime(["2007-11-11", "2009-11-09"])),
        pd.Series([1.5, 2.5], dtype=np.float32),
        pd.Series([1, "two"], dtype=object),
    ],
    ids=["bool", "datetime", "float32", "mixed objects"],
)
def test_other_kinds_of_column_are_left_to_pandas(column):
    frame = pd.DataFrame({"id": column, "p": [0.25, np.nan]})
    assert written(frame) == pandas_bytes(frame)


def test_one_column_alone():
    frame = pd.DataFrame({"missing": ["", "bill_length_mm"]})  # csv quotes an empty field alone on its line
    assert written(frame) == pandas_bytes(frame) == b'missing\n""\nbill_length_mm\n'
