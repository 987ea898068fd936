"""Marks every item collected from ``book/`` (the chapters nbval executes) with ``book``.

It lives at the root because a hook in ``tests/conftest.py`` sees only the items under
``tests/``; ``pytest -m "not book"`` then runs the unit tests alone.
"""

from pathlib import Path

import pytest

_BOOK = Path(__file__).resolve().parent / "book"


def pytest_collection_modifyitems(items):
    for item in items:
        if _BOOK in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.book)
