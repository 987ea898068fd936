"""`make learner`: chapters without solutions or outputs, still runnable up to the exercises."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))

_spec = importlib.util.spec_from_file_location("make_learner", ROOT / "scripts" / "make_learner.py")
make_learner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_learner)

DIFFICULTY = re.compile(r"^\*\*\((easy|medium|hard)\)\*\*")


def _md(text):
    return nbformat.v4.new_markdown_cell(text)


def _code(text, output=None):
    cell = nbformat.v4.new_code_cell(text)
    if output is not None:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
        cell.execution_count = 3
    return cell


def synthetic_notebook():
    """Two exercises: one gated solution with two code cells, one ungated solution block."""
    return nbformat.v4.new_notebook(
        cells=[
            _md("# A chapter"),
            _code("x = 40 + 2\nprint(x)", output="42\n"),
            _md(":::{exercise}\n:label: ex-syn-one\n**(easy)** Double x.\n:::"),
            _md(":::{solution-start} ex-syn-one\n:class: dropdown\n:::"),
            _code("doubled_secret = 2 * x", output=""),
            _code("print(doubled_secret)", output="84\n"),
            _md("Because 2 × 42 = 84, the hidden_explanation.\n\n:::{solution-end}\n:::"),
            _md(":::{exercise}\n:label: ex-syn-two\n**(hard)** Halve x.\n:::"),
            _md(":::{solution} ex-syn-two\n:class: dropdown\nUse x / 2, the ungated_answer.\n:::"),
            _md("## Versions"),
        ]
    )


def _solution_parts(nb):
    """Code lines and text that only the solutions contain (gated or not)."""
    inside, lines, texts, outside = False, set(), [], set()
    for cell in nb.cells:
        starts = cell.cell_type == "markdown" and make_learner.SOLUTION_START.search(cell.source)
        if inside or starts or (cell.cell_type == "markdown" and make_learner.SOLUTION_BLOCK.search(cell.source)):
            if cell.cell_type == "code":
                lines |= {line.strip() for line in cell.source.splitlines() if len(line.strip()) > 3}
            else:
                texts.append(cell.source)
            if starts:
                inside = True
            if cell.cell_type == "markdown" and make_learner.SOLUTION_END.search(cell.source):
                inside = False
        elif cell.cell_type == "code":
            outside |= {line.strip() for line in cell.source.splitlines()}
    # A line that the chapter also runs outside a solution (an import, say) gives nothing away.
    return lines - outside, texts


def _all_text(nb):
    return "\n".join(cell.source for cell in nb.cells)


def _exercises(nb):
    return [c.source for c in nb.cells if c.cell_type == "markdown" and make_learner.EXERCISE.search(c.source)]


def test_synthetic_notebook_loses_solutions_and_outputs_but_keeps_exercises():
    nb = synthetic_notebook()
    learner = make_learner.learner_notebook(nb)
    text = _all_text(learner)
    for secret in ["doubled_secret", "hidden_explanation", "ungated_answer", "solution-start", "solution-end"]:
        assert secret not in text
    assert _exercises(learner) == _exercises(nb)
    sources = [c.source for c in learner.cells]
    # The answer cell follows its exercise directly.
    for i, source in enumerate(sources):
        if make_learner.EXERCISE.search(source):
            assert sources[i + 1] == make_learner.ANSWER
    assert sources.count(make_learner.ANSWER) == 2
    assert all(c.outputs == [] and c.execution_count is None for c in learner.cells if c.cell_type == "code")
    assert "x = 40 + 2\nprint(x)" in sources  # ordinary code stays
    nbformat.validate(learner)
    # The input notebook is not modified.
    assert nb.cells[1].outputs and "doubled_secret" in _all_text(nb)


@pytest.mark.parametrize(
    ("drop", "message"),
    [(6, "never ended"), (3, "never started")],
    ids=["no-end", "no-start"],
)
def test_unbalanced_solutions_are_refused(drop, message):
    nb = synthetic_notebook()
    del nb.cells[drop]
    with pytest.raises(make_learner.SolutionError, match=message):
        make_learner.learner_notebook(nb, "syn.ipynb")


def test_script_writes_the_folder(tmp_path):
    source = tmp_path / "syn.ipynb"
    nbformat.write(synthetic_notebook(), source)
    out = tmp_path / "learner"
    run = subprocess.run(
        [sys.executable, ROOT / "scripts" / "make_learner.py", "--out", out, source],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Wrote 1 learner notebooks" in run.stdout
    assert "doubled_secret" not in (out / "syn.ipynb").read_text()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_solution_leaks_from_the_chapters(chapter):
    nb = nbformat.read(chapter, as_version=4)
    learner = make_learner.learner_notebook(nb, chapter.name)
    text = _all_text(learner)
    assert "solution-start" not in text and "solution-end" not in text
    secret_lines, secret_texts = _solution_parts(nb)
    learner_lines = {line.strip() for line in text.splitlines()}
    assert not secret_lines & learner_lines
    for secret in secret_texts:
        assert secret not in text
    assert _exercises(learner) == _exercises(nb)
    assert all(not c.get("outputs") for c in learner.cells)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_exercise_says_how_hard_it_is(chapter):
    for cell in _exercises(nbformat.read(chapter, as_version=4)):
        # An exercise may share its cell with other prose: read from its directive on.
        directive = cell[make_learner.EXERCISE.search(cell).end() :]
        body = [line for line in directive.splitlines()[1:] if line.strip() and not line.startswith(":")]
        assert body and DIFFICULTY.match(body[0]), f"{chapter.name}: no (easy|medium|hard) tag in {directive[:80]!r}"


def test_learner_chapter_runs_up_to_its_first_exercise(tmp_path):
    from nbclient import NotebookClient

    chapter = ROOT / "book" / "01_penguins.ipynb"
    learner = make_learner.learner_notebook(nbformat.read(chapter, as_version=4), chapter.name)
    first = next(i for i, c in enumerate(learner.cells) if make_learner.EXERCISE.search(c.source))
    assert first > 0
    learner.cells = learner.cells[:first]
    NotebookClient(learner, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}).execute()
    assert any(c.get("outputs") for c in learner.cells if c.cell_type == "code")
