"""Execute chapters and store the outputs that nbval checks, and only those.

nbval compares a cell's fresh output with the output saved in the notebook; cells tagged
``nbval-check-output`` keep their saved output, every other output is stripped so that
the notebooks in git stay small and diff well.

Run after changing a chapter: ``.venv/bin/python scripts/store_checked_outputs.py book/03_mixture.ipynb``
(no argument: every chapter).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbval.plugin import coalesce_streams

TAG = "nbval-check-output"


def store(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if TAG not in cell.metadata.get("tags", []):
            cell.outputs = []
            cell.execution_count = None  # nbval treats a cell with a count as one to compare
        else:
            # What nbval compares: a print that reached the kernel's stream in two
            # pieces is one output, so a re-run does not rewrite the notebook.
            cell.outputs = coalesce_streams(cell.outputs)
    nbformat.write(nb, path)
    print(f"stored checked outputs of {path}")


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    paths = [Path(p) for p in sys.argv[1:]] or sorted((root / "book").glob("*.ipynb"))
    for p in paths:
        store(p)
