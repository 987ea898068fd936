"""The book's prose quotes no number a run produced unless it is glued (scripts/check_prose.py)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = [sys.executable, str(ROOT / "scripts" / "check_prose.py")]
PAGES = sorted([*(ROOT / "book").glob("*.ipynb"), *(ROOT / "book").glob("*.md")])


def check(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CHECK, *map(str, paths)], capture_output=True, text=True, check=False, cwd=ROOT)


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_quotes_only_glued_numbers_and_fixed_facts(page):
    result = check(page)
    assert result.returncode == 0, result.stdout + result.stderr


CHAPTERS = [page for page in PAGES if page.suffix == ".ipynb"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[chapter.name for chapter in CHAPTERS])
def test_chapter_states_its_running_time_from_the_run(chapter):
    """The opening box quotes the chapter's own time, glued by its last code cell."""
    cells = json.loads(chapter.read_text())["cells"]
    opening = " ".join("".join(cells[0]["source"]).split())  # the box's lines are wrapped
    found = re.search(r"\{glue:text\}`(\w+):\.0f` s (?:when this page was built|in this build)", opening)
    assert found, f"{chapter.name}: the opening box should give the running time, glued"
    last = "".join([c for c in cells if c["cell_type"] == "code"][-1]["source"])
    assert f'glue("{found[1]}", time.perf_counter() - chapter_start' in last


def _chapter(path: Path, text: str) -> Path:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# Scratch\n\nWe sample 4 chains of 1000 draws, seed 1."},
        {
            "cell_type": "code",
            "metadata": {},
            "source": 'glue("ch99_rhat", 1.03, display=False)',
            "outputs": [],
            "execution_count": None,
        },
        {"cell_type": "markdown", "metadata": {}, "source": text},
    ]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_check_fails_on_a_typed_result_and_a_stray_placeholder(tmp_path):
    page = _chapter(
        tmp_path / "typed.ipynb",
        "All 342 penguins: the largest $\\hat R$ is 1.03 and it took {P['scan_tune']} steps.",
    )
    result = check(page)
    assert result.returncode == 1
    assert result.stdout.splitlines()[:2] == [
        f"{page}: markdown cell 3: unfilled placeholder \"{{P['scan_tune']}}\"",
        f"{page}: markdown cell 3: typed number '1.03' in "
        "\"All 342 penguins: the largest is 1.03 and it took {P['scan_tune']} steps.\"",
    ]


def test_check_passes_the_same_chapter_with_the_number_glued(tmp_path):
    page = _chapter(
        tmp_path / "glued.ipynb",
        "All 342 penguins: the largest $\\hat R$ is {glue:text}`ch99_rhat:.2f` (see `r_hat = 1.03`).",
    )
    result = check(page)
    assert result.returncode == 0, result.stdout


def test_check_names_the_line_of_a_page(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Page\n\nFixed: 342 penguins, K = 3.\n\nSampling took 42.2 s.\n")
    result = check(page)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == f"{page}: line 5: typed number '42.2' in 'Sampling took 42.2 s.'"
