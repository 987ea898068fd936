"""Assign a table of penguins of any size to the clusters of a saved fit, with Dask.

:func:`inspect_table` reads the head of a CSV or Parquet file and decides how to read
it: the encoding, the separator (a semicolon file with decimal commas, as spreadsheets
write in much of Europe, is read as such), which columns hold the four measurements
(the book's names, the Palmer LTER's original names, or a mapping the user gives) and
which are copied through. :func:`assign_table` then scores every row with
:func:`~penguin_utils.assign.assign_clusters`: a table smaller than one partition in
this process with pandas alone (Dask is not even imported: a few thousand penguins
answer in about a second), a larger one with ``dask.dataframe``, read in partitions,
the assignment mapped over them in threads on this machine (the kernel releases the
GIL) or on a
``dask.distributed`` cluster, and written as CSV or Parquet.

Every row is kept, in order. A row without some measurement (``NA``, empty, ...) is
flagged in the ``missing`` column with empty probabilities, or refused with
``refuse_missing=True``; any other problem refuses the whole table, naming the lines.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from penguin_utils.assign import assign_clusters
from penguin_utils.csv_output import write_csv
from penguin_utils.data import FEATURES
from penguin_utils.io import atomic_write
from penguin_utils.posterior import MixtureDraws
from penguin_utils.scaling import PenguinScaler

__all__ = [
    "LTER_COLUMNS",
    "MISSING_TOKENS",
    "Assigned",
    "TableError",
    "TableFormat",
    "assign_table",
    "copy_of_stdin",
    "inspect_table",
]

#: The measurement columns under their names in the original publication and the LTER data
#: portal (palmerpenguins' ``penguins_raw``).
LTER_COLUMNS: dict[str, str] = dict(
    zip(("Culmen Length (mm)", "Culmen Depth (mm)", "Flipper Length (mm)", "Body Mass (g)"), FEATURES, strict=True)
)

#: Spellings of a missing measurement; anything else that is not a number is an error.
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "-"})

#: Columns the output adds after the copied ones (and ``p_cluster_K`` before them).
OUTPUT_COLUMNS = ("cluster", "probability", "entropy", "missing")

#: Bytes per partition; a smaller table is assigned without Dask.
DEFAULT_BLOCKSIZE = 4_000_000

_SAMPLE_BYTES = 1 << 16

#: Fewer rows than this per thread are not worth a thread (about 0.03 s of work with 4000 draws).
_MIN_ROWS_PER_THREAD = 512


class TableError(ValueError):
    """A problem with the table of penguins that its owner can fix."""


@dataclass(frozen=True)
class TableFormat:
    """How to read a table, as :func:`inspect_table` found it.

    Attributes
    ----------
    path : pathlib.Path
        The file to read.
    name : str
        How messages name it (``"standard input"`` for a copy of it).
    kind : {"csv", "parquet"}
    names : list of str
        The column names to read with: stripped, measurements renamed to :data:`FEATURES`,
        repeated names of other columns numbered as pandas does (``"x.1"``).
    ids : list of str
        The columns copied to the output.
    read_options : dict
        ``sep``, ``encoding`` and ``compression`` for ``read_csv``.
    decimal_comma : bool
        Measurements are written ``39,1``.
    notes : list of str
        What was recognised or converted, for the user to read.
    """

    path: Path
    name: str
    kind: str
    names: list[str]
    ids: list[str]
    read_options: dict = field(default_factory=dict)
    decimal_comma: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """What a position in the table is called in messages."""
        return "line" if self.kind == "csv" else "row"


def inspect_table(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    features: Sequence[str] = FEATURES,
    columns: Mapping[str, str] | None = None,
) -> TableFormat:
    """Decide how to read a CSV (plain or gzip) or Parquet file from its head.

    Parameters
    ----------
    path : str or path-like
    name : str, optional
        How messages name the table (default: ``path``).
    features : sequence of str
        The measurement columns the fit needs.
    columns : mapping, optional
        ``{feature: column name in the file}`` for tables with other names; without it the
        book's names and then the Palmer LTER's (:data:`LTER_COLUMNS`) are looked for.

    Raises
    ------
    TableError
        An empty, binary or unreadable file, a folder, a missing or repeated measurement
        column, or a column the output would add; the message says what to do.
    """
    path = Path(path)
    name = str(path) if name is None else name
    if path.is_dir():
        raise TableError(f"{name} is a folder, not a CSV or Parquet file.")
    if not path.is_file():
        raise TableError(f"no such file: {name}")
    with open(path, "rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    if head.startswith(b"PAR1"):
        import pyarrow.parquet as pq

        header, notes, options, decimal_comma = list(pq.read_schema(path).names), [], {}, False
        kind = "parquet"
    else:
        kind = "csv"
        header, notes, options, decimal_comma = _csv_header(path, name, head)
    names, ids, mapping_notes = _resolve_columns(header, features, columns, name)
    return TableFormat(path, name, kind, names, ids, options, decimal_comma, notes + mapping_notes)


def _csv_header(path: Path, name: str, head: bytes) -> tuple[list[str], list[str], dict, bool]:
    """The raw header names, notes, ``read_csv`` options and decimal-comma flag of a CSV file."""
    compression = None
    if head.startswith(b"\x1f\x8b"):
        compression = "gzip"
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(_SAMPLE_BYTES)
        except (OSError, EOFError) as err:
            raise TableError(f"{name} looks gzip-compressed but cannot be decompressed ({err}).") from None
    if not head.strip():
        raise TableError(f"{name} is empty; it needs a header row and one row per penguin.")
    notes = []
    if head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
        try:  # the sample may end inside a character
            head[: len(head) - 3 if len(head) == _SAMPLE_BYTES else None].decode("utf-8")
        except UnicodeDecodeError:
            encoding = "latin-1"
            notes.append("read as Latin-1 text (it is not valid UTF-8)")
    text = head.decode(encoding, errors="ignore")
    if re.search(r"[\x00-\x08\x0e-\x1f]", text):
        raise TableError(f"{name} is not a text CSV file (it holds binary data).")
    lines = text.splitlines()
    sep = max([",", ";", "\t"], key=lines[0].count)
    sep = sep if lines[0].count(sep) else ","
    decimal_comma = sep == ";" and re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", "\n".join(lines[1:]), re.M) is not None
    if sep != ",":
        what = {";": "semicolon", "\t": "tab"}[sep]
        notes.append(f"read as {what}-separated" + (" with decimal commas" if decimal_comma else ""))
    header = next(csv.reader(io.StringIO(lines[0]), delimiter=sep))
    return header, notes, {"sep": sep, "encoding": encoding, "compression": compression}, decimal_comma


def _resolve_columns(
    header: list[str], features: Sequence[str], columns: Mapping[str, str] | None, name: str
) -> tuple[list[str], list[str], list[str]]:
    """Final column names, the copied columns and notes, after every header check."""
    notes = []
    stripped = [str(h).strip() for h in header]
    padded = [h for h, s in zip(header, stripped, strict=True) if h != s]
    if padded:
        notes.append(f"removed spaces around the column name(s) {', '.join(map(repr, padded))}")
    if columns:
        unknown = [f for f in columns if f not in features]
        if unknown:
            raise TableError(f"--columns maps {unknown}, which are not measurements; it maps {list(features)}.")
        absent = [c for c in columns.values() if c not in stripped]
        if absent:
            raise TableError(f"{name} has no column(s) {absent} to map; found {', '.join(stripped)}.")
        rename = {source: feature for feature, source in columns.items()}
        used = "the --columns mapping"
    else:
        lter = {s: f for s, f in LTER_COLUMNS.items() if f in features and f not in stripped and s in stripped}
        rename, used = lter, "the Palmer LTER names"
    names = [rename.get(s, s) for s in stripped]
    if rename:
        notes.append(f"measurements from {used}: " + ", ".join(f"{s!r} as {f}" for s, f in rename.items()))
    missing = [f for f in features if f not in names]
    if missing:
        raise TableError(
            f"{name} is missing the column(s) {', '.join(missing)}; it needs {', '.join(features)} "
            f"(millimetres and grams), found {', '.join(stripped)}. Rename them, or map yours with "
            "--columns FEATURE=NAME."
        )
    twice = [f for f in features if names.count(f) > 1]
    if twice:
        sources = {f: [s for s, n in zip(stripped, names, strict=True) if n == f] for f in twice}
        raise TableError(
            f"{name} has the measurement(s) {', '.join(twice)} in more than one column "
            f"({'; '.join(f'{f}: {sources[f]}' for f in twice)}); keep one of each or choose with --columns."
        )
    clash = [n for n in names if n in OUTPUT_COLUMNS or n.startswith("p_cluster_")]
    if clash:
        raise TableError(f"{name} already has the column(s) {', '.join(clash)}, which the output adds; rename them.")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # repeated copied columns: numbered as pandas does
        if n in seen:
            seen[n] += 1
            names[i] = f"{n}.{seen[n]}"
        else:
            seen[n] = 0
    return names, [n for n in names if n not in features], notes


def copy_of_stdin() -> Path:
    """Standard input copied to a temporary file (removed at exit), to be read like any file."""
    import atexit

    with tempfile.NamedTemporaryFile(prefix="penguin-utils-stdin-", suffix=".csv", delete=False) as copy:
        shutil.copyfileobj(sys.stdin.buffer, copy)
    atexit.register(os.unlink, copy.name)
    return Path(copy.name)


def _lines(where: str, positions) -> str:
    """``line 4`` or ``lines 5, 273``: the first ten, and how many more."""
    shown = ", ".join(str(p) for p in positions[:10])
    more = f" and {len(positions) - 10} more" if len(positions) > 10 else ""
    return f"{where}{'s' * (len(positions) > 1)} {shown}{more}"


@dataclass(frozen=True)
class _Assigner:
    """Turns one partition of the table into its rows of the output (picklable for workers)."""

    draws: MixtureDraws
    scaler: PenguinScaler
    table: TableFormat
    refuse_missing: bool
    first_rows: tuple[int, ...] = (2,)
    threads: int = 1  # more only where nothing else runs in parallel (a table assigned without Dask)

    def __call__(self, frame: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
        first = self.first_rows[partition_info["number"] if partition_info else 0]
        frame = frame.set_axis(pd.RangeIndex(first, first + len(frame), name=self.table.where))
        values, missing = self._measurements(frame)
        complete = ~missing.any(axis=1)
        n_cluster = len(self.draws.coords["cluster"])
        probs = np.full((len(frame), n_cluster), np.nan)
        best = pd.array(np.zeros(len(frame), dtype=int), dtype="Int64")
        best[~complete] = pd.NA
        summary = np.full((len(frame), 2), np.nan)
        if complete.any():
            try:
                scaled = self.scaler.transform(values.loc[complete])
            except ValueError as err:
                raise TableError(
                    f"{self.table.name}: {' '.join(str(err).split())} (rows are {self.table.where} numbers)"
                ) from None
            result = self._assign(scaled)
            probs[complete] = result.iloc[:, :n_cluster].to_numpy()
            best[complete] = result["cluster"].to_numpy()
            summary[complete] = result[["probability", "entropy"]].to_numpy()
        out = frame[self.table.ids].copy()
        for k, label in enumerate(self.draws.coords["cluster"]):
            out[f"p_cluster_{label}"] = probs[:, k]
        out["cluster"], out["probability"], out["entropy"] = best, summary[:, 0], summary[:, 1]
        out["missing"] = pd.Series("", index=frame.index, dtype="str")
        for i in np.flatnonzero(~complete):
            out.iloc[i, -1] = " ".join(f for f, m in zip(values.columns, missing[i], strict=True) if m)
        return out

    def _assign(self, scaled: pd.DataFrame) -> pd.DataFrame:
        """:func:`assign_clusters` on ``scaled``, in ``threads`` row ranges at once (the kernel releases the GIL).

        Each penguin's numbers do not depend on the penguins around it, so the ranges give the
        same result as one call.
        """
        n = min(self.threads, len(scaled) // _MIN_ROWS_PER_THREAD)
        if n <= 1:
            return assign_clusters(self.draws, scaled, features=self.scaler.features)
        from concurrent.futures import ThreadPoolExecutor

        bounds = np.linspace(0, len(scaled), n + 1).astype(int)
        parts = [scaled.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        with ThreadPoolExecutor(n) as pool:
            results = list(
                pool.map(lambda part: assign_clusters(self.draws, part, features=self.scaler.features), parts)
            )
        return pd.concat(results)

    def _measurements(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The measurements as floats (NaN where missing) and the (rows, features) missing mask."""
        columns, missing, problems = {}, [], []
        for feature in self.scaler.features:
            column = frame[feature]
            if pd.api.types.is_numeric_dtype(column):  # Parquet
                values, absent = column.to_numpy(dtype=float, na_value=np.nan), column.isna().to_numpy()
                text = column.astype(str)
            else:
                text = column.astype("str").str.strip()
                absent = text.str.lower().isin(MISSING_TOKENS).to_numpy()
                numbers = text.str.replace(",", ".", regex=False) if self.table.decimal_comma else text
                values = pd.to_numeric(numbers, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            bad = ~absent & ~np.isfinite(values)
            if bad.any():
                examples = ", ".join(repr(v) for v in pd.unique(text[bad])[:3])
                problems.append(
                    f"{feature} is not a number on {_lines(self.table.where, frame.index[bad])} ({examples})"
                )
            if absent.any() and self.refuse_missing:
                problems.append(f"{feature} is missing on {_lines(self.table.where, frame.index[absent])}")
            columns[feature] = np.where(absent, np.nan, values)
            missing.append(absent)
        if problems:
            fix = "fix or remove those lines" if self.refuse_missing else "fix those lines"
            raise TableError(f"{self.table.name}: " + "; ".join(problems) + f". Measurements must be numbers; {fix}.")
        return pd.DataFrame(columns, index=frame.index), np.column_stack(missing)


@dataclass(frozen=True)
class Assigned:
    """What :func:`assign_table` did: ``n_rows`` rows written, ``missing`` the lines (or rows) flagged."""

    n_rows: int
    missing: list[int]


def _flagged(part: pd.DataFrame) -> tuple[int, list[int]]:
    return len(part), part.index[part["missing"] != ""].tolist()


def assign_table(
    draws: MixtureDraws,
    scaler: PenguinScaler,
    table: TableFormat,
    out: str | os.PathLike | None,
    *,
    overwrite: bool = False,
    refuse_missing: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    blocksize: int = DEFAULT_BLOCKSIZE,
    progress: bool = False,
) -> Assigned:
    """Assign every row of ``table`` and write the result, all or nothing.

    Parameters
    ----------
    draws : MixtureDraws
        The checked posterior (``mixture_draws(posterior, scaler.features)``), checked once.
    scaler : PenguinScaler
        The scaler saved with the fit.
    table : TableFormat
        From :func:`inspect_table`.
    out : str, path-like or None
        A ``.parquet`` folder, a CSV file, or None for CSV on standard output. Written
        beside the target and renamed into place on success (:func:`~penguin_utils.io.atomic_write`).
    overwrite : bool
        Replace an existing ``out``.
    refuse_missing : bool
        Refuse a table with a missing measurement instead of flagging its rows.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``); its workers must
        see ``table.path`` and ``out`` at the same paths. Without it a table larger than
        ``blocksize`` is assigned by ``workers`` local threads (a gzip file cannot be split:
        it is read whole, in this process).
    workers : int, optional
        Local worker threads (default: the CPUs this process may use).
    blocksize : int
        Bytes per partition at most (of a Parquet file's data, uncompressed); on local
        threads the partitions are as many as a multiple of the threads.
    progress : bool
        Show Dask's progress bar on standard error.

    Returns
    -------
    Assigned

    Raises
    ------
    TableError
        For a problem with the table, naming its lines; nothing is written then.
    """
    small = scheduler is None and (table.path.stat().st_size <= blocksize or table.read_options.get("compression"))
    assigner = _Assigner(draws, scaler, table, refuse_missing, threads=_local_threads(workers) if small else 1)
    kind = "parquet" if out is not None and str(out).endswith(".parquet") else "csv"
    if out is None:
        if small:
            result = assigner(_read_whole(table))
            done = _checked(table, *_flagged(result))
            sys.stdout.flush()
            write_csv(result, sys.stdout.buffer)
            return done
        return _run_dask(assigner, None, kind, scheduler, workers, blocksize, progress)
    with atomic_write(out, overwrite=overwrite, inputs=[table.path], folder=kind == "parquet") as tmp:
        if not small:
            return _run_dask(assigner, tmp, kind, scheduler, workers, blocksize, progress)
        result = assigner(_read_whole(table))
        done = _checked(table, *_flagged(result))
        if kind == "parquet":
            result.to_parquet(tmp / "part.000000.parquet", index=False)
        else:
            with open(tmp, "wb") as fh:
                write_csv(result, fh)
        return done


def _checked(table: TableFormat, n_rows: int, missing: list[int]) -> Assigned:
    if n_rows == 0:
        raise TableError(f"{table.name} has a header but no penguins.")
    return Assigned(n_rows, missing)


def _read_csv_options(table: TableFormat) -> dict:
    return dict(
        table.read_options,
        header=0,
        names=table.names,
        dtype=str,  # identifiers pass through verbatim ("007" stays "007")
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,  # a blank line is a row without measurements, never dropped
    )


def _read_whole(table: TableFormat) -> pd.DataFrame:
    try:
        if table.kind == "parquet":
            return pd.read_parquet(table.path).set_axis(table.names, axis=1)
        return pd.read_csv(table.path, **_read_csv_options(table))
    except pd.errors.ParserError as err:
        raise TableError(f"{table.name} is not a well-formed CSV file: {' '.join(str(err).split())}") from None
    except UnicodeDecodeError:
        encoding = table.read_options["encoding"]
        raise TableError(f"{table.name} is not a text CSV file (it is not valid {encoding}).") from None


def _count_newlines(block: bytes) -> int:
    return block.count(b"\n")


@dataclass(frozen=True)
class _PartWriter:
    """Assigns one partition and writes it as its own file: only a one-row summary leaves the worker."""

    assigner: _Assigner
    folder: str
    kind: str

    def __call__(self, frame: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
        number = partition_info["number"] if partition_info else 0
        result = self.assigner(frame, partition_info)
        if self.kind == "parquet":  # zero-padded: readers list the parts in name order
            result.to_parquet(Path(self.folder) / f"part.{number:06d}.parquet", index=False)
        else:
            with open(Path(self.folder) / f"part.{number:06d}.csv", "wb") as fh:
                write_csv(result, fh, header=number == 0)
        n_rows, missing = _flagged(result)
        return pd.DataFrame({"rows": [n_rows], "missing": [" ".join(map(str, missing))]})


def _run_dask(assigner, target: Path | None, kind: str, scheduler, workers, blocksize: int, progress: bool) -> Assigned:
    """The table in Dask partitions, assigned and written in parallel; CSV parts joined into ``target``.

    ``target`` is the Parquet folder or the CSV file to write (None: CSV on standard output).
    """
    import contextlib

    table = assigner.table
    with contextlib.ExitStack() as stack:
        client, options = _connect(stack, scheduler, workers)
        ddf, first_rows = _partitions(table, blocksize, options)
        assigner = replace(assigner, first_rows=first_rows)
        if kind == "parquet":
            folder = target
        elif target is None:
            folder = Path(tempfile.mkdtemp(prefix="penguin-utils-parts-"))
        else:  # beside the target and named like it (.NAME.incomplete-PID.parts): a killed run's are removed
            folder = target.with_name(f"{target.name}s")
            folder.mkdir()
        if kind == "csv":
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
        meta = pd.DataFrame({"rows": pd.Series(dtype=int), "missing": pd.Series(dtype=str)})
        summary = ddf.map_partitions(_PartWriter(assigner, str(folder), kind), meta=meta)
        if progress and scheduler is None:
            from dask.diagnostics import ProgressBar

            stack.enter_context(ProgressBar(out=sys.stderr))
        try:
            if scheduler is not None:
                future = client.compute(summary)
                if progress:
                    from distributed import progress as show_progress

                    with contextlib.redirect_stdout(sys.stderr):
                        show_progress(future)
                done = future.result()
            else:
                done = summary.compute(**options)
        except pd.errors.ParserError as err:
            raise TableError(f"{table.name} is not a well-formed CSV file: {' '.join(str(err).split())}") from None
        result = _checked(table, int(done["rows"].sum()), [int(x) for m in done["missing"] for x in m.split()])
        if kind == "csv":
            with open(target, "wb") if target is not None else contextlib.nullcontext(sys.stdout.buffer) as sink:
                for part in sorted(folder.glob("part.*.csv")):
                    with open(part, "rb") as fh:
                        shutil.copyfileobj(fh, sink)
                sink.flush()
    return result


def _connect(stack, scheduler: str | None, workers: int | None) -> tuple:
    """A ``distributed`` client of ``scheduler``, or local threads: ``(client, compute options)``.

    Threads suffice on one machine: the assignment kernel releases the GIL, and one process
    keeps the memory of one copy of the libraries and the fit.
    """
    if scheduler is not None:
        from distributed import Client

        try:
            return stack.enter_context(Client(scheduler, timeout="10s")), {}
        except OSError as err:
            raise TableError(f"cannot reach the Dask scheduler at {scheduler} ({err}).") from None
    return None, {"scheduler": "threads", "num_workers": _local_threads(workers)}


def _local_threads(workers: int | None) -> int:
    """``workers``, or by default the CPUs this process may use."""
    return workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _partitions(table: TableFormat, blocksize: int, options: dict) -> tuple:
    """The table as a Dask DataFrame, and the line (CSV) or row (Parquet) each partition starts at."""
    import dask
    import dask.dataframe as dd

    threads = options.get("num_workers")  # None on a cluster
    if table.kind == "parquet":
        import pyarrow.parquet as pq

        ddf = dd.read_parquet(table.path)
        ddf = ddf.rename(columns=dict(zip(ddf.columns, table.names, strict=True)))
        metadata = pq.read_metadata(table.path)  # the data's size, not the compressed file's, measures the work
        size = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
        wanted = _n_partitions(size, blocksize, threads)
        if ddf.npartitions < wanted:  # a row group can hold the whole file
            ddf = ddf.repartition(npartitions=wanted)
        lengths = ddf.map_partitions(len).compute(**options).tolist()
        return ddf, tuple(int(r) for r in np.concatenate([[1], 1 + np.cumsum(lengths)[:-1]]))
    compressed = table.read_options.get("compression") is not None
    size = table.path.stat().st_size
    blocksize = -(-size // _n_partitions(size, blocksize, threads))
    ddf = dd.read_csv(str(table.path), blocksize=None if compressed else blocksize, **_read_csv_options(table))
    if ddf.npartitions == 1:
        return ddf, (2,)
    from dask.bytes import read_bytes

    # dask.dataframe splits the file at the first line end after every blocksize bytes: so do these blocks
    _, blocks = read_bytes(str(table.path), delimiter=b"\n", blocksize=blocksize, sample=False)
    counts = dask.compute(*[dask.delayed(_count_newlines)(b) for b in blocks[0]], **options)
    return ddf, tuple(int(r) for r in np.concatenate([[2], 1 + np.cumsum(counts)[:-1]]))  # line 1: the header


def _n_partitions(size: int, blocksize: int, threads: int | None) -> int:
    """Partitions of at most ``blocksize`` bytes, as many as a multiple of ``threads``: no thread idles at the end."""
    n = -(-size // blocksize)
    return -(-n // threads) * threads if threads else n
