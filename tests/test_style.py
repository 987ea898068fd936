"""The project's habits, checked in `make test`: ruff (lint and format) and notebooks stored clean.

The same checks run as pre-commit hooks (.pre-commit-config.yaml); a failure here names the
command that fixes it.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RUFF = [sys.executable, "-m", "ruff"]
CHECK_OUTPUTS = [sys.executable, str(ROOT / "scripts" / "check_notebook_outputs.py")]


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, **kwargs)


def test_ruff_check_passes():
    result = run([*RUFF, "check", "--output-format", "concise", "."])
    assert result.returncode == 0, f"fix with `ruff check --fix .` (and by hand):\n{result.stdout}{result.stderr}"


def test_ruff_format_leaves_everything_as_it_is():
    result = run([*RUFF, "format", "--check", "--output-format", "concise", "."])
    assert result.returncode == 0, f"fix with `ruff format .`:\n{result.stdout}{result.stderr}"


def test_ruff_with_the_project_configuration_reports_bad_code(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nimport os\n\nprint(zip([1], [2]))\n")
    result = run([*RUFF, "check", "--config", str(ROOT / "pyproject.toml"), "--output-format", "concise", str(bad)])
    assert result.returncode == 1
    for code in ["I001", "F401", "B905"]:  # unsorted imports, unused import, zip without strict=
        assert code in result.stdout


def test_chapters_keep_only_checked_outputs():
    result = run(CHECK_OUTPUTS)
    assert result.returncode == 0, result.stdout


def _notebook(path: Path, cells: list[dict]) -> Path:
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _code(tags: list[str], outputs: list[dict], count: int | None) -> dict:
    return {
        "cell_type": "code",
        "metadata": {"tags": tags},
        "source": "print(1)",
        "outputs": outputs,
        "execution_count": count,
    }


def test_output_check_names_each_offending_cell(tmp_path):
    printed = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    tagged = ["nbval-check-output"]
    nb = _notebook(
        tmp_path / "nb.ipynb",
        [
            {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
            _code([], [], None),  # clean
            _code([], printed, 3),  # output kept in an unchecked cell
            _code([], [], 4),  # execution count kept
            _code(tagged, printed, 5),  # checked output: allowed
            _code(tagged, [], None),  # checked cell whose output was never stored
            _code(tagged, printed, None),  # checked output without a count: nbval calls it unrun
        ],
    )
    result = run([*CHECK_OUTPUTS, str(nb)])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        f"{nb}: code cell 3 is not tagged nbval-check-output but keeps its output or execution count",
        f"{nb}: code cell 4 is not tagged nbval-check-output but keeps its output or execution count",
        f"{nb}: code cell 6 is tagged nbval-check-output but has no stored output for nbval to compare",
        f"{nb}: code cell 7 is tagged nbval-check-output and keeps output but lost its execution count",
    ]
    assert "scripts/store_checked_outputs.py" in lines[4]


def test_pre_commit_configuration_is_valid_and_pins_the_locked_tools():
    result = run([sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr
    lock = dict(re.findall(r"(?m)^([a-z0-9-]+)==(\S+)$", (ROOT / "requirements.lock").read_text()))
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    pins = [dep for hook in hooks for dep in hook.get("additional_dependencies", [])]
    assert pins == [f"ruff=={lock['ruff']}", f"ruff=={lock['ruff']}", f"check-jsonschema=={lock['check-jsonschema']}"]
    assert {hook["id"] for hook in hooks} == {
        "ruff-check",
        "ruff-format",
        "notebook-outputs",
        "prose",
        "github-workflows",
    }
