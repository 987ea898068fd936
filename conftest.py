"""Hooks for the chapters that nbval executes (every item collected from ``book/``).

- Each such item is marked ``book``, so that ``pytest -m "not book"`` runs the unit tests
  alone. This lives at the root because a hook in ``tests/conftest.py`` sees only the
  items under ``tests/``.
- A chapter whose every cell ran and passed is stored, with the outputs nbval saw, in the
  book's execution cache (``_build/.jupyter_cache``, myst-nb's ``execute_notebooks:
  cache``). ``make book`` then renders those outputs instead of running the chapter a
  second time; a chapter that is not in the cache, or whose code cells changed, is
  executed by the book build itself, and ``make book`` empties the cache when the package,
  the configuration or the lock is newer than it.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent
_BOOK = _ROOT / "book"
_CACHE = _ROOT / "_build" / ".jupyter_cache"


def _under_book(path) -> bool:
    path = Path(path).resolve()
    return path == _BOOK or _BOOK in path.parents


def pytest_collection_modifyitems(items):
    for item in items:
        if _under_book(item.path):
            item.add_marker(pytest.mark.book)


class _ExecutedChapters:
    """Collects, per chapter, the outputs of each cell as nbval ran it."""

    def __init__(self):
        self.outputs: dict[Path, dict[int, list]] = {}
        self.seconds: dict[Path, float] = {}
        self.failed: set[Path] = set()
        self.expected: dict[Path, int] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        if not _under_book(item.path) or not hasattr(item, "cell_num"):  # nbval's cells only
            return
        path = Path(item.path).resolve()
        report = outcome.get_result()
        self.expected.setdefault(path, sum(1 for c in item.parent.nb.cells if c.cell_type == "code"))
        if report.failed or report.skipped:
            self.failed.add(path)
        elif report.when == "call":
            self.outputs.setdefault(path, {})[item.cell_num] = copy.deepcopy(getattr(item, "test_outputs", []))
            self.seconds[path] = self.seconds.get(path, 0.0) + report.duration

    def pytest_sessionfinish(self, session):
        complete = [
            p for p, cells in self.outputs.items() if p not in self.failed and len(cells) == self.expected.get(p)
        ]
        if not complete:
            return
        import nbformat
        from IPython.core.displayhook import DisplayHook
        from jupyter_cache import get_cache
        from jupyter_cache.base import CacheBundleIn

        cache = get_cache(str(_CACHE))
        for path in complete:
            nb = nbformat.read(path, as_version=4)
            code = [cell for cell in nb.cells if cell.cell_type == "code"]
            for number, cell in enumerate(code, start=1):
                outputs = [nbformat.from_dict(out) for out in self.outputs[path][number - 1]]
                if DisplayHook.semicolon_at_end_of_expression(cell.source):
                    # nbval runs cells without storing them in IPython's history, where the
                    # kernel looks for a closing semicolon; a reader's kernel shows no value.
                    outputs = [out for out in outputs if out.output_type != "execute_result"]
                for out in outputs:
                    if out.output_type == "execute_result":
                        out.execution_count = number
                cell.outputs, cell.execution_count = outputs, number
            bundle = CacheBundleIn(nb, str(path), data={"execution_seconds": self.seconds[path]})
            cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)


def pytest_configure(config):
    # Only when chapters may be collected, and with the locked versions (not make test-latest):
    # a unit-test run never touches the book's cache.
    if os.environ.get("PENGUIN_MIXTURES_UNLOCKED"):
        return
    if any(_under_book(arg) for arg in config.args):
        config.pluginmanager.register(_ExecutedChapters(), "executed-chapters")
