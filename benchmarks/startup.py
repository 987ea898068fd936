"""What a reader waits for: each chapter and each test module, from empty compile caches, then warm.

Every chapter runs in its own process (a fresh kernel, as after a restart), on a copy of
``book/`` in a temporary folder, with PyTensor's and Numba's caches in that folder too:
the first pass starts with empty caches and no saved fits (a fresh clone), the second
pass finds what the first left (a reader restarting a chapter). For each chapter the
table gives the whole execution time, the part spent compiling (PyTensor functions and
nutpie models) and sampling (nutpie, ``pm.sample`` and predictive sampling), and what was
compiled: new C modules and new Numba cache entries. The test modules are timed the same
way, each in its own ``pytest`` process.

Run: ``.venv/bin/python benchmarks/startup.py`` (about 30 minutes on 2 cores; ``--only``
picks chapters by name, ``--no-tests`` leaves the test modules out, ``--compile-check``
only times compiling chapter 3's model in two processes). Writes
``benchmarks/startup_results.md``, ``benchmarks/startup_results.csv`` and the two tables the
workshop page shows: ``benchmarks/startup_chapters.csv`` (per chapter) and
``benchmarks/startup_setup_check.csv`` (the setup check from empty caches, run again, then
chapter 3 with only what the setup check compiled).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, markdown_table

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

# Run in the chapter's kernel before its first cell: times the outermost calls of each kind,
# so that compiling inside pm.sample counts as compiling, not sampling.
PROBE = r"""
import functools as _functools, time as _time
_PROBE = {"compile": 0.0, "sample": 0.0}
_PROBE_STACK = []

def _probe(kind, fn):
    @_functools.wraps(fn)
    def timed(*args, **kwargs):
        _PROBE_STACK.append(0.0)
        start = _time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            total = _time.perf_counter() - start
            _PROBE[kind] += total - _PROBE_STACK.pop()
            if _PROBE_STACK:
                _PROBE_STACK[-1] += total
    return timed

import nutpie as _nutpie, pymc as _pm
import pytensor.compile.function.types as _types
_types.FunctionMaker.create = _probe("compile", _types.FunctionMaker.create)
_nutpie.compile_pymc_model = _probe("compile", _nutpie.compile_pymc_model)
_nutpie.sample = _probe("sample", _nutpie.sample)
for _name in ("sample", "sample_prior_predictive", "sample_posterior_predictive"):
    setattr(_pm, _name, _probe("sample", getattr(_pm, _name)))
"""
REPORT = "import json as _json; print('PROBE' + _json.dumps(_PROBE))"


def _count(folder: Path, patterns: tuple[str, ...]) -> int:
    return sum(1 for pattern in patterns for _ in folder.rglob(pattern)) if folder.exists() else 0


def _caches(cache: Path) -> dict:
    # A compiled C module is one shared object; a cached Numba function is one index file.
    return {
        "c_modules": _count(cache / "pytensor", ("*.so",)),
        "numba_functions": _count(cache, ("*.nbi",)),
    }


def _env(cache: Path) -> dict:
    env = dict(os.environ)
    env["PYTENSOR_FLAGS"] = f"base_compiledir={cache / 'pytensor'}"
    env["NUMBA_CACHE_DIR"] = str(cache / "numba")
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run_chapter(path: Path, cache: Path) -> dict:
    """Execute one chapter in a fresh kernel; its time, compile and sampling split, new cache entries."""
    before = _caches(cache)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--execute", str(path)],
        env=_env(cache),
        capture_output=True,
        text=True,
        cwd=path.parent,
    )
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{path.name} failed:\n{proc.stderr[-3000:]}")
    probe = json.loads(proc.stdout.split("PROBE", 1)[1].splitlines()[0])
    after = _caches(cache)
    return {
        "seconds": round(seconds, 1),
        "compile_s": round(probe["compile"], 1),
        "sample_s": round(probe["sample"], 1),
        **{k: after[k] - before[k] for k in after},
    }


def _execute(path: Path) -> None:
    """Child process: run the notebook with the probe around it and print what it measured."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    NotebookClient(
        nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    print(nb.cells[-1].outputs[0]["text"].strip())


def run_tests(module: Path, cache: Path) -> dict:
    before = _caches(cache)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(module), "-q", "-p", "no:cacheprovider"],
        env=_env(cache),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    seconds = time.perf_counter() - start
    after = _caches(cache)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
    return {"seconds": round(seconds, 1), "result": last.strip("= "), **{k: after[k] - before[k] for k in after}}


def run_setup_check(cache: Path) -> float:
    """Time ``python -m penguin_utils check`` (the workshop's setup check), whole process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "penguin_utils", "check"], env=_env(cache), capture_output=True, check=True)
    return round(time.perf_counter() - start, 1)


def setup_check_rows(tmp: Path) -> list[dict]:
    """What the workshop page promises: the setup check cold, again, then chapter 3 after it."""
    cache = tmp / "setup-cache"
    book = tmp / "book-setup"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("fits", "_build", ".ipynb_checkpoints"))
    rows = [
        {"what": "setup check, empty caches", "seconds": run_setup_check(cache)},
        {"what": "setup check, run again", "seconds": run_setup_check(cache)},
    ]
    rows.append(
        {"what": "chapter 3 after the setup check", "seconds": run_chapter(book / "03_mixture.ipynb", cache)["seconds"]}
    )
    return rows


def compile_check(cache: Path) -> list[dict]:
    """Compile chapter 3's pm.Mixture model for nutpie in two processes, one after the other."""
    code = (
        "import time, warnings; warnings.simplefilter('ignore')\n"
        "from penguin_utils.book import setup_chapter\n"
        "from penguin_utils.models import build_mixture_model, em_initial_point\n"
        "from penguin_utils.sampling import compile_mixture\n"
        "_, _, X = setup_chapter()\n"
        "model = build_mixture_model(X, fused_logp=False)\n"
        "t0 = time.perf_counter(); compile_mixture(model, em_initial_point(X))\n"
        "print(time.perf_counter() - t0)\n"
    )
    rows = []
    for process in ("first", "second"):
        out = subprocess.run([sys.executable, "-c", code], env=_env(cache), capture_output=True, text=True, check=True)
        rows.append({"process": process, "compile_s": round(float(out.stdout.split()[-1]), 1)})
    return rows


def chapters_in_order() -> list[str]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [Path(f).name + ".ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="chapter file names (default: every chapter in _toc.yml order)")
    parser.add_argument("--no-tests", action="store_true", help="leave the test modules out")
    parser.add_argument("--compile-check", action="store_true", help="only time compiling chapter 3's model twice")
    parser.add_argument("--execute", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.execute:
        _execute(args.execute)
        return

    with tempfile.TemporaryDirectory(prefix="penguin-startup-") as tmp:
        tmp = Path(tmp)
        if args.compile_check:
            print(markdown_table(compile_check(tmp / "cache")))
            return
        setup = setup_check_rows(tmp) if not args.only or "03_mixture.ipynb" in args.only else []
        for row in setup:
            print(row, flush=True)
        book = tmp / "book"
        shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("fits", "_build", ".ipynb_checkpoints"))
        # chapters 11 and 12 read the other benchmarks' results (../benchmarks/*.csv)
        shutil.copytree(HERE, tmp / "benchmarks", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        rows = []
        for name in args.only or chapters_in_order():
            for run in ("cold", "warm"):
                row = run_chapter(book / name, tmp / "chapters-cache")
                rows.append({"what": name.removesuffix(".ipynb"), "run": run, **row})
                print(rows[-1], flush=True)
        # chapter 3's model, compiled again in a new process with the caches the chapters left
        compiled = [] if args.only else compile_check(tmp / "chapters-cache")
        if not args.no_tests:
            for module in sorted((ROOT / "tests").glob("test_*.py")):
                for run in ("cold", "warm"):
                    row = run_tests(module, tmp / "tests-cache")
                    rows.append({"what": module.name, "run": run, **row})
                    print(rows[-1], flush=True)

    chapters = {}
    for row in rows:
        if not row["what"].startswith("test_"):
            chapters.setdefault(row["what"], {})[row["run"]] = row
    with open(HERE / "startup_chapters.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["chapter", "cold (s)", "of which compiling (s)", "warm (s)", "of which compiling (s)"])
        for name, runs in chapters.items():
            cold, warm = runs["cold"], runs["warm"]
            writer.writerow([name, cold["seconds"], cold["compile_s"], warm["seconds"], warm["compile_s"]])
    if setup:
        with open(HERE / "startup_setup_check.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["run", "seconds"])
            writer.writerows([row["what"], row["seconds"]] for row in setup)
    with open(HERE / "startup_results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(
            fh,
            fieldnames=["what", "run", "seconds", "compile_s", "sample_s", "c_modules", "numba_functions", "result"],
            restval="",
        )
        writer.writeheader()
        writer.writerows(rows)
    text = "\n\n".join(
        [
            "# Start-up: each chapter and test module, empty caches (cold) then warm",
            f"Machine: {machine()}.",
            "Each row is one process: a fresh kernel for a chapter, one `pytest` run for a test module. "
            "`compile_s` and `sample_s` are the outermost PyTensor/nutpie compilations and the sampling calls; "
            "`c_modules` and `numba_functions` count new entries in the compile caches.",
            markdown_table(rows),
            *(
                ["The workshop's setup check (`python -m penguin_utils check`), then chapter 3:", markdown_table(setup)]
                if setup
                else []
            ),
            *(
                [
                    "Compiling chapter 3's `pm.Mixture` model for nutpie in new processes, caches warm from "
                    "the chapters:",
                    markdown_table(compiled),
                ]
                if compiled
                else []
            ),
        ]
    )
    (HERE / "startup_results.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
