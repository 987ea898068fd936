"""Write learner copies of the chapters: solutions removed, outputs cleared (``make learner``).

Exercises in the book use sphinx-exercise's gated solutions: a markdown cell starting
with ``:::{solution-start} <label>``, the solution's code cell(s), and a markdown cell
holding ``:::{solution-end}``. Everything from the start cell to the end cell, inclusive,
is dropped; so is any markdown cell with an ungated ``{solution}`` block. Each exercise
keeps its text and gets an empty code cell for the answer after it. Every output and
execution count is cleared.

Usage::

    python scripts/make_learner.py                      # book/*.ipynb -> learner/
    python scripts/make_learner.py --out DIR a.ipynb b.ipynb
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

_FENCE = r"^\s*(?::{3,}|`{3,})"
SOLUTION_START = re.compile(_FENCE + r"\{solution-start\}", re.MULTILINE)
SOLUTION_END = re.compile(_FENCE + r"\{solution-end\}", re.MULTILINE)
SOLUTION_BLOCK = re.compile(_FENCE + r"\{solution\}", re.MULTILINE)
EXERCISE = re.compile(_FENCE + r"\{exercise(?:-end)?\}", re.MULTILINE)
_LABEL = re.compile(r"^:label:\s*(\S+)", re.MULTILINE)

ANSWER = "# Your answer here\n"
NOTE = (
    "*Learner copy, made by `make learner`: the solutions are removed and the outputs cleared. "
    "Write your answer in the empty cell after each exercise.*"
)


class SolutionError(ValueError):
    """A solution that is opened and never closed (or closed and never opened)."""


def learner_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return a copy of ``nb`` without solutions or outputs, with an answer cell per exercise.

    Raises
    ------
    SolutionError
        If a ``solution-start`` has no matching ``solution-end`` (or the other way round):
        copying on would either leak the solution or drop the rest of the chapter.
    """
    cells = []
    open_at = None  # index of the solution-start cell we are inside, if any
    for i, cell in enumerate(nb.cells):
        text = cell.source if cell.cell_type == "markdown" else ""
        if open_at is not None:
            if SOLUTION_START.search(text):
                raise SolutionError(f"{name}: cell {i} starts a solution inside the one started at cell {open_at}.")
            if SOLUTION_END.search(text):
                open_at = None
            continue
        if SOLUTION_START.search(text):
            open_at = None if SOLUTION_END.search(text) else i
            continue
        if SOLUTION_END.search(text):
            raise SolutionError(f"{name}: cell {i} ends a solution that was never started.")
        if SOLUTION_BLOCK.search(text):
            continue
        cells.append(_cleared(cell))
        if EXERCISE.search(text):
            label = _LABEL.search(text)
            answer = nbformat.v4.new_code_cell(ANSWER)
            answer.id = f"{label.group(1) if label else f'cell-{i}'}-answer"[:64]
            cells.append(answer)
    if open_at is not None:
        raise SolutionError(f"{name}: the solution started at cell {open_at} is never ended with {{solution-end}}.")

    learner = nbformat.from_dict(nb)
    learner.cells = cells
    if cells and cells[0].cell_type == "markdown":
        note = nbformat.v4.new_markdown_cell(NOTE)
        note.id = "learner-note"
        learner.cells.insert(1, note)
    return learner


def _cleared(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = nbformat.from_dict(cell)
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    cell.metadata.pop("execution", None)  # timings of the last run
    return cell


def write_learner(paths: list[Path], out: Path) -> list[Path]:
    """Write the learner copy of each notebook in ``paths`` into the folder ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        target = out / path.name
        nbformat.write(learner_notebook(nb, str(path)), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters to copy (default: book/*.ipynb)")
    parser.add_argument("--out", type=Path, default=Path("learner"), help="folder to write into (default: learner)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(Path("book").glob("*.ipynb"))
    if not paths:
        parser.error("no notebooks found; run from the repository root or name them.")
    try:
        written = write_learner(paths, args.out)
    except SolutionError as err:
        print(f"make_learner: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {len(written)} learner notebooks to {args.out}/ (solutions removed, outputs cleared).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
