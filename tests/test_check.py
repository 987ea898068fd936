"""The setup check, on this machine and broken on purpose in subprocesses.

The broken set-ups are real: a compile cache that cannot be created (its parent is a
file, which even root cannot write into), a Numba cache likewise, and palmerpenguins
made unimportable by an import hook in ``sitecustomize`` (as if it were uninstalled).
A too-old Python is run on the source checkout when the machine has one (pyenv's, or
``python3.X`` on the PATH); its message is also checked on the function itself.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from penguin_utils.check import MIN_PYTHON, python_problem


def check(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "penguin_utils", "check", *args], capture_output=True, text=True, env=full_env
    )


@pytest.fixture
def not_a_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("folders cannot be made inside a file\n")
    return blocker / "cache"


def test_python_version_gate():
    assert python_problem(sys.version_info) is None
    assert python_problem((3, 11, 0, "final", 0)) is None
    message = python_problem((3, 10, 14, "final", 0))
    assert "Python 3.10.14 is too old" in message and "3.11 or newer" in message and "pip install -e ." in message
    assert MIN_PYTHON == (3, 11)


def _old_pythons():
    """Interpreters older than MIN_PYTHON on this machine (pyenv's, or python3.X on PATH)."""
    found = {}
    candidates = [shutil.which(f"python3.{minor}") for minor in range(7, MIN_PYTHON[1])]
    candidates += glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))
    for exe in filter(None, candidates):
        probe = subprocess.run([exe, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True)
        version = tuple(int(v) for v in probe.stdout.split()) if probe.returncode == 0 else ()
        if (3, 7) <= version < MIN_PYTHON:
            found[version] = exe
    return [found[v] for v in sorted(found)]


@pytest.mark.skipif(not _old_pythons(), reason="no Python older than 3.11 on this machine")
def test_a_too_old_python_is_told_so():
    root = Path(__file__).resolve().parents[1]
    for exe in _old_pythons():  # the source checkout: pip would not even install there
        result = subprocess.run(
            [exe, "-m", "penguin_utils", "check"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        assert result.returncode == 1, exe
        assert "is too old: the book needs Python 3.11 or newer" in result.stderr
        assert "Traceback" not in result.stderr


def test_healthy_setup_passes_and_reports_what_a_teacher_needs():
    result = check("--no-warm")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for name in ["python", "pymc", "pytensor", "arviz", "nutpie", "numpy", "numba"]:
        assert f"\n  {name} " in out
    assert "mode / linker" in out and "BLAS for the C backend" in out and "compile cache" in out
    assert "342 penguins" in out
    assert "All good" in out


@pytest.mark.slow
def test_full_check_samples_both_models_end_to_end():
    """The real thing: compiles chapter 3's and the fused model (minutes on a cold cache, which
    the chapters then reuse; seconds when warm) and assigns the penguins with the result."""
    result = check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pm.Mixture model (ch. 3)   compiled and sampled" in result.stdout
    assert "fused model (ch. 4-5, CLI) compiled and sampled" in result.stdout
    found = re.search(r"(\d+) of 342 penguins in their species' cluster", result.stdout)
    assert found and int(found.group(1)) >= 320  # tiny runs, yet the species come back


def test_unwritable_compile_cache_fails_with_the_fix(not_a_folder):
    result = check("--no-warm", env={"PYTENSOR_FLAGS": f"base_compiledir={not_a_folder}"})
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "compile cache" in result.stdout and "FAIL" in result.stdout
    assert "export PYTENSOR_FLAGS=base_compiledir=$HOME/.pytensor" in result.stdout


def test_unwritable_numba_cache_fails_with_the_fix(not_a_folder):
    result = check("--no-warm", env={"NUMBA_CACHE_DIR": str(not_a_folder)})
    assert result.returncode == 1
    assert "NUMBA_CACHE_DIR" in result.stdout and "unset NUMBA_CACHE_DIR" in result.stdout


def test_missing_data_package_fails_with_the_fix(tmp_path):
    hook = textwrap.dedent(
        """
        import sys

        class HidePalmerPenguins:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "palmerpenguins":
                    raise ModuleNotFoundError("No module named 'palmerpenguins'", name="palmerpenguins")
                return None

        sys.meta_path.insert(0, HidePalmerPenguins())
        """
    )
    (tmp_path / "sitecustomize.py").write_text(hook)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    result = check("--no-warm", env={"PYTHONPATH": path})
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "pip install palmerpenguins" in result.stdout
    assert "342 penguins" not in result.stdout


def test_book_renders_maths_offline():
    """MathJax comes from the built site, not a CDN: the workshop's book works without a network.

    Checked once in headless Chromium inside a network namespace with no network
    (``unshare -n chromium --headless --dump-dom``): the equations rendered. Here, the cheap
    part: the configuration, the bundled files, and any HTML already built.
    """
    import importlib
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "_config.yml").read_text())
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    extension = importlib.import_module("sphinx-mathjax-offline")
    bundled = Path(extension.__file__).parent / "static" / "mathjax"
    assert (bundled / "tex-chtml.js").is_file() and (bundled / "output" / "chtml" / "fonts" / "woff-v2").is_dir()

    built = root / "_build" / "html"
    # Pages that load MathJax (those with equations); a page may also just mention it in its text.
    loads_mathjax = re.compile(r"<script[^>]*mathjax", re.IGNORECASE)
    pages = [p for p in built.glob("book/*.html") if loads_mathjax.search(p.read_text(errors="ignore"))]
    for page in pages:
        html = page.read_text()
        assert "cdn.jsdelivr.net/npm/mathjax" not in html, page
        assert "_static/mathjax/tex-chtml.js" in html, page
    if pages:
        assert (built / "_static" / "mathjax" / "tex-chtml.js").is_file()
