"""Write a table of assignments as CSV: the bytes pandas writes, at a fraction of its cost.

``DataFrame.to_csv`` formats each float in Python while holding the GIL, which made
writing cost more than assigning: about 12 s of CPU per million penguins, with the
threads that assign waiting on it. Here Arrow's cast finds each float's shortest
round-trip digits (the digits ``repr`` finds), a compiled loop lays them out as
``repr`` does (``1e-05``, ``1.0``), and Arrow's kernels quote the strings and join the
fields into lines; all of it releases the GIL.

A frame with a column of another kind (dates or booleans from a Parquet input, say) is
written by pandas itself, so the output never depends on which path wrote it.
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO

import numba
import numpy as np
import pandas as pd

__all__ = ["write_csv"]

#: What makes the csv module (and so pandas) quote a field when lines end in "\n".
_NEEDS_QUOTES = '[,"\n]'


def write_csv(frame: pd.DataFrame, sink: BinaryIO, *, header: bool = True) -> None:
    """Write ``frame`` to ``sink`` as ``frame.to_csv(sink, index=False, lineterminator="\\n")`` would.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        Columns of floats, integers (nullable or not) and strings are written by Arrow;
        any other column sends the whole frame to pandas. Missing values are written as
        empty fields.
    sink : binary file
        Receives UTF-8 bytes.
    header : bool
        Write the column names first.
    """
    columns = [_as_text(frame.iloc[:, i]) for i in range(frame.shape[1])]
    # pandas for the other kinds, and for one column (csv quotes an empty field alone on its line)
    if len(columns) < 2 or any(column is None for column in columns):
        sink.write(frame.to_csv(index=False, header=header, lineterminator="\n").encode())
        return
    if header:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(frame.columns)
        sink.write(text.getvalue().encode())
    if len(frame):
        import pyarrow.compute as pc

        lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, _text(",")), _text(""), _text("\n"))
        sink.write(_concatenated(lines))


def _as_text(column: pd.Series):
    """``column`` as an Arrow array of CSV fields, or None for a kind this module leaves to pandas."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = column.dtype
    if dtype == np.float64:
        shortest = pc.cast(pa.array(column.to_numpy()), pa.large_string())
        _, offsets, data = shortest.buffers()
        starts, text = _repr_layout(np.frombuffer(data, np.uint8), np.frombuffer(offsets, np.int64))
        return pa.LargeStringArray.from_buffers(len(shortest), pa.py_buffer(starts), pa.py_buffer(text))
    if pd.api.types.is_integer_dtype(dtype):
        return pc.fill_null(pc.cast(pa.array(column), pa.large_string()), _text(""))
    if pd.api.types.is_string_dtype(dtype):
        try:
            text = pc.cast(pa.array(column, from_pandas=True), pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # objects that are not all strings
            return None
        text = pc.fill_null(text, _text(""))
        needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
        if not pc.any(needs).as_py():
            return text
        quoted = pc.binary_join_element_wise(_text('"'), pc.replace_substring(text, '"', '""'), _text('"'), _text(""))
        return pc.if_else(needs, quoted, text)
    return None


def _text(value: str):
    """A scalar of the type every column is cast to (Arrow's string kernels want one type)."""
    import pyarrow as pa

    return pa.scalar(value, pa.large_string())


def _concatenated(lines) -> memoryview:
    """The bytes of an Arrow array of strings, one after another, without copying them."""
    import pyarrow as pa

    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[[lines.offset, lines.offset + len(lines)]]
    return memoryview(data)[bounds[0] : bounds[1]]


# Python's repr writes 10**x positionally for -4 <= x < 16, otherwise as d.ddde±XX.
_LOW, _HIGH = -4, 16


@numba.njit(cache=True, nogil=True)
def _repr_layout(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arrow's text of n floats (``1``, ``0.00001``, ``2.5e-9``) rewritten as ``repr`` writes them.

    Parameters
    ----------
    data : numpy.ndarray of uint8, shape (n_bytes,)
        The strings' bytes, one after another.
    offsets : numpy.ndarray of int64, shape (n + 1,)
        Where each string starts, and where the last ends.

    Returns
    -------
    offsets : numpy.ndarray of int64, shape (n + 1,)
    data : numpy.ndarray of uint8
        The rewritten strings, NaN as an empty field (what pandas writes).
    """
    n = len(offsets) - 1
    out = np.empty(n * 32, np.uint8)  # at most 24 bytes: sign, 17 digits, point, e, sign, 3 digits
    starts = np.empty(n + 1, np.int64)
    digits = np.empty(24, np.uint8)
    at = 0
    for i in range(n):
        starts[i] = at
        j, end = offsets[i], offsets[i + 1]
        if data[j] == 45:  # "-"
            out[at] = 45
            at += 1
            j += 1
        if data[j] == 110:  # "nan": written as an empty field
            at = starts[i]
            continue
        if data[j] == 105:  # "inf"
            for c in (105, 110, 102):
                out[at] = c
                at += 1
            continue
        # digits without leading zeros, and where the decimal point falls among them
        n_digits, point, seen_point = 0, 0, False
        while j < end and data[j] != 101:  # "e"
            c = data[j]
            if c == 46:  # "."
                seen_point = True
            elif n_digits == 0 and c == 48:  # a leading zero
                if seen_point:
                    point -= 1
            else:
                digits[n_digits] = c
                n_digits += 1
                if not seen_point:
                    point += 1
            j += 1
        if j < end:  # exponent
            sign = -1 if data[j + 1] == 45 else 1
            j += 2 if data[j + 1] in (43, 45) else 1
            exponent = 0
            while j < end:
                exponent = exponent * 10 + data[j] - 48
                j += 1
            point += sign * exponent
        while n_digits > 0 and digits[n_digits - 1] == 48:  # trailing zeros of an integer
            n_digits -= 1
        if n_digits == 0:  # zero
            out[at], out[at + 1], out[at + 2] = 48, 46, 48
            at += 3
            continue
        x = point - 1  # value = d.ddd x 10**x
        if _LOW <= x < _HIGH:
            if point <= 0:
                out[at], out[at + 1] = 48, 46
                at += 2
                for _ in range(-point):
                    out[at] = 48
                    at += 1
                for k in range(n_digits):
                    out[at] = digits[k]
                    at += 1
            else:
                for k in range(max(n_digits, point)):
                    out[at] = digits[k] if k < n_digits else 48
                    at += 1
                    if k == point - 1:
                        out[at] = 46
                        at += 1
                if n_digits <= point:
                    out[at] = 48
                    at += 1
        else:
            out[at] = digits[0]
            at += 1
            if n_digits > 1:
                out[at] = 46
                at += 1
                for k in range(1, n_digits):
                    out[at] = digits[k]
                    at += 1
            out[at] = 101
            out[at + 1] = 45 if x < 0 else 43
            at += 2
            x = abs(x)
            if x >= 100:
                out[at] = 48 + x // 100
                at += 1
            out[at], out[at + 1] = 48 + x // 10 % 10, 48 + x % 10
            at += 2
    starts[n] = at
    return starts, out[:at].copy()
