"""Check that chapters keep outputs only in the cells whose output nbval checks.

A cell tagged ``nbval-check-output`` keeps its stored output (``make test`` compares it with a
fresh run); every other code cell is stored empty, without an execution count, so the notebooks
in git stay small and diff well. ``scripts/store_checked_outputs.py`` writes notebooks that way.

Usage: ``python scripts/check_notebook_outputs.py [NOTEBOOK ...]`` (no argument: every chapter).
Exits 1 and names each offending cell. Run by pre-commit and by tests/test_style.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TAG = "nbval-check-output"


def problems(path: Path) -> list[str]:
    """What in one notebook breaks the rule, one message per cell."""
    found = []
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for number, cell in enumerate(cells, start=1):
        if cell["cell_type"] != "code":
            continue
        where = f"{path}: code cell {number}"
        if TAG in cell.get("metadata", {}).get("tags", []):
            if not cell.get("outputs"):
                found.append(f"{where} is tagged {TAG} but has no stored output for nbval to compare")
            elif cell.get("execution_count") is None:
                # nbval treats such a cell as never run and fails it ("Unrun reference cell has outputs").
                found.append(f"{where} is tagged {TAG} and keeps output but lost its execution count")
        elif cell.get("outputs") or cell.get("execution_count") is not None:
            found.append(f"{where} is not tagged {TAG} but keeps its output or execution count")
    return found


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    paths = [Path(arg) for arg in argv] or sorted((root / "book").glob("*.ipynb"))
    found = [message for path in paths for message in problems(path)]
    if found:
        print("\n".join(found))
        print(f"Fix: .venv/bin/python scripts/store_checked_outputs.py <notebook> (stores only {TAG} outputs).")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
