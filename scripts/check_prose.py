"""Check that the book's prose quotes no number a run produced, and no unfilled placeholder.

A number in a chapter's text that comes from a result (a time, a count, an r_hat, an ESS, a
ratio, an elpd, a rank...) must be glued from the cell that computes it, with myst-nb:
``glue("ch03_speedup", value, display=False)`` in the cell, ``{glue:text}`ch03_speedup:.0f```
in the text. Typed, it goes stale the next time the chapter runs on another machine.

For every markdown cell of a notebook (and every ``.md`` page) the check reports, with the
file and the cell number (the line number in a ``.md`` page):

(a) a number that is neither inside a ``{glue:...}`` role nor a fixed fact of
    :data:`FIXED_FACTS` (the data set's counts, K, sampler settings, seeds, thresholds, the
    years of the data, chapter and version numbers);
(b) a placeholder that was never filled in: ``{name}``, ``{P[...]}``, ``{P['x']}``,
    ``{x:.2f}`` or ``{{ name }}`` outside a MyST role or maths.

Skipped by rule, before looking for either: fenced code blocks, inline code, maths
(``$...$``, ``$$...$$``), MyST roles with their content (``{glue:text}`...```, ``{doc}`...```,
``{ref}`...```: their numbers are glue keys, file names and labels), link targets
(``](...)``) and bare addresses, HTML comments, directive fences and their option lines
(``:::{exercise}``, ``:label: ...``), digits inside words or names (``PyMC3``, ``x86-64``,
``ex-2``), and heading numbering (``## 3. Sampling``). Numbers in an exercise's statement are its inputs and are not
checked (its solution is). Chapter references (``chapter 3``,
``chapters 2 and 3``) are fixed facts of the book.

``book/workshop.md`` is checked for (b) only: its times and counts come from the benchmark
run (``benchmarks/``), which a page without a kernel cannot glue; the benchmark's own files
hold the figures it quotes.

Usage: ``python scripts/check_prose.py [PATH ...]`` (no argument: every ``book/*.ipynb`` and
``book/*.md``). Prints one line per finding and exits 1 if there is any. Run by pre-commit and
by ``tests/test_prose.py``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

#: Numbers that may be typed: facts that do not change from run to run. Each entry is a
#: pattern; a number inside one of its matches is allowed. Keep it short: a result is glued.
FIXED_FACTS: dict[str, str] = {
    # The data: rows in palmerpenguins, penguins kept, penguins of known sex, per species.
    "data set counts": r"\b(?:344|342|333|151|68|123)(?!\d)",
    "years of the data": r"\b200[789]\b",
    # Counts of the book's own setup: K = 3 of 4 measurements, 2 or 4 chains, 2 cores.
    "small counts (K, measurements, chains, cores)": r"(?<![.\d])\b[0-4]\b(?![.,]\d)",
    "numbers of clusters": r"\bK\s*=\s*\d+(?:\s*(?:,|and|or|to|–|-)\s*\d+)*",
    "model sizes and shapes": r"\b\d+\s*×\s*\d+\b|\b\d+\s+(?:continuous|discrete|weights|means|entries|parameters)\b",
    "sampler settings": (
        r"\b\d+\s*×\s*\(|\(?\b\d+\s*\+\s*\d+\)?"
        r"|\b\d+\s+(?:(?:prior|posterior|predictive|kept)\s+)*(?:tuning steps|tuning|draws?|chains?|cores?)\b"
    ),
    "seeds": r"(?i)\bseeds?\s+\d+\b",
    "chapter references": r"(?i)\bchapters?\s+\d+(?:\s*(?:,|and|or|to|–|-)\s*\d+)*",
    "versions": r"\b(?:Python|PyMC|PyTensor|Jupyter Book|NumPy|ArviZ|nutpie|pymc-extras)\s+\d+(?:\.\d+)*",
    "conventional thresholds (r_hat, ESS, Pareto k, ArviZ's HDI)": r"\b1\.01\b|\b400\b|\b0\.7\b|\b94\s*%",
    # Running times are glued: only the reading time is typed.
    "reading times": r"\*\*Reading time:\*\* about \d+ minutes|\b\d+ min\b",
}
#: Pages checked for placeholders only, with the reason.
NUMBERS_NOT_CHECKED = {
    "workshop.md": "times from the benchmark run, which a page without a kernel cannot glue",
}

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
_ROLE = re.compile(r"\{[\w:.+-]+\}`[^`]*`")
_STRIP = [
    re.compile(r"<!--.*?-->", re.S),  # HTML comments
    re.compile(r"\$\$.*?\$\$", re.S),  # display maths
    re.compile(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S),  # amsmath environments
    re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$"),  # inline maths
    re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S),  # inline code (after roles are gone)
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"<https?://[^>]*>|https?://\S+"),  # addresses
    re.compile(r"(?m)^\s*(?::{3,}|`{3,}).*$"),  # directive fences
    re.compile(r"(?m)^\s*:[\w-]+:.*$"),  # directive options such as :label: and :class:
    re.compile(r"(?m)^(#{1,6}\s+)[\d.]+\s"),  # heading numbering
]
# An exercise states its inputs (a grid from 35 to 55 mm); its solution is checked like prose.
_EXERCISE = re.compile(r"(?ms)^(:{3,})\{exercise\}.*?^\1[ \t]*$")
_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}|\{[A-Za-z_]\w*(?:\[[^\]{}]*\])*(?:![rsa])?(?::[^{}]*)?\}")
_NUMBER = re.compile(r"(?<![\w.])(?<!\w-)-?\d+(?:[.,]\d+)*(?:\s*%)?")


def _blocks(path: Path) -> list[tuple[str, str]]:
    """The prose of a page: (where, text) per markdown cell, or one block for a .md page."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return [
            (f"cell {number}", "".join(cell["source"]))
            for number, cell in enumerate(cells, start=1)
            if cell["cell_type"] == "markdown"
        ]
    return [("", path.read_text(encoding="utf-8"))]


def _drop_code_fences(text: str) -> str:
    """Blank out fenced code blocks; keep the body of directive fences (``{note}`` holds prose)."""
    lines = text.split("\n")
    out, fence, is_code = [], None, False
    for line in lines:
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(2)
            info = match.group(3).strip()
            is_code = not info.startswith("{") or info.split("}")[0] in {
                "{code-cell",
                "{code-block",
                "{code",
                "{math",
                "{literalinclude",
                "{glue:math",
            }
            out.append("")
        elif fence is not None and line.strip().startswith(fence[0] * len(fence)) and not line.strip()[len(fence) :]:
            fence = None
            out.append("")
        else:
            out.append("" if fence is not None and is_code else line)
    return "\n".join(out)


def _blank(match: re.Match) -> str:
    """Replace a match by spaces, keeping its newlines, so that line numbers stay right."""
    return re.sub(r"[^\n]", " ", match.group(0))


def _prose(text: str, *, exercises: bool = True) -> str:
    """The text a reader reads as words: code, maths, roles, links and options blanked out."""
    text = _drop_code_fences(text)
    if not exercises:
        text = _EXERCISE.sub(_blank, text)
    text = _ROLE.sub(_blank, text)
    for pattern in _STRIP:
        text = pattern.sub(_blank, text)
    return text


def _allowed_spans(text: str) -> list[tuple[int, int]]:
    return [match.span() for pattern in FIXED_FACTS.values() for match in re.finditer(pattern, text)]


def problems(path: Path) -> list[str]:
    """One message per typed result number and per unfilled placeholder in a page's prose."""
    check_numbers = path.name not in NUMBERS_NOT_CHECKED
    found = []
    for where, source in _blocks(path):
        text = _prose(source)

        def place(offset: int, where: str = where, text: str = text) -> str:
            if where:
                return f"{path}: markdown {where}"
            return f"{path}: line {text.count(chr(10), 0, offset) + 1}"

        for match in _PLACEHOLDER.finditer(text):
            found.append(f"{place(match.start())}: unfilled placeholder {match.group(0)!r}")
        if not check_numbers:
            continue
        text = _prose(source, exercises=False)
        allowed = _allowed_spans(text)
        for match in _NUMBER.finditer(text):
            start, end = match.span()
            if any(lo <= start and end <= hi for lo, hi in allowed):
                continue
            line = text[text.rfind("\n", 0, start) + 1 : text.find("\n", end) % (len(text) + 1)].strip()
            found.append(f"{place(start)}: typed number {match.group(0).strip()!r} in {' '.join(line.split())!r}")
    return found


def main(argv: list[str]) -> int:
    book = Path(__file__).resolve().parents[1] / "book"
    paths = [Path(arg) for arg in argv] or sorted([*book.glob("*.ipynb"), *book.glob("*.md")])
    found = [message for path in paths for message in problems(path)]
    if found:
        print("\n".join(found))
        print(
            "Fix: glue each result from the cell that computes it (from myst_nb import glue; "
            'glue("chNN_name", value, display=False)) and write {glue:text}`chNN_name:.2f` in the '
            "text; type only the fixed facts listed in scripts/check_prose.py (FIXED_FACTS)."
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
