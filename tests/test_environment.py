"""pyproject.toml (the pip route) and environment.yml (the conda route) list the same packages."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
#: Packages whose conda-forge name differs from the PyPI name.
CONDA_NAMES = {"graphviz": "python-graphviz"}
#: Installed with pip by environment.yml: not on conda-forge, or a test tool taken from the package index.
PIP_ONLY = {"sphinx-mathjax-offline", "jupyter-repo2docker"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip()).groups()
    return name.lower(), spec.replace(" ", "")


def _pip_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    out = {}
    for req in reqs:
        name, spec = _split(req)
        out[CONDA_NAMES.get(name, name)] = spec
    return out


def _conda_requirements() -> tuple[dict[str, str], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
            continue
        name, spec = _split(dep)
        if name not in {"python", "pip"}:
            conda[name] = spec
    return conda, pip


def test_same_packages_and_version_ranges():
    conda, pip = _conda_requirements()
    from_pip = dict(_split(req) for req in pip if req != "-e .")
    assert conda.keys().isdisjoint(from_pip), "a package is listed both for conda and for pip"
    assert conda | from_pip == _pip_requirements()


def test_only_packages_missing_from_conda_forge_come_from_pip():
    _, pip = _conda_requirements()
    assert {_split(req)[0] for req in pip if req != "-e ."} == PIP_ONLY


def test_conda_environment_installs_the_package_itself_last():
    # pip installs the project after every dependency is in place; Binder runs it from the repo root.
    _, pip = _conda_requirements()
    assert pip[-1] == "-e ."


def test_python_versions_agree():
    # The lock (make lock --python-version), conda and Binder (python=x.y) and CI all use one Python.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    lock_python = re.search(r"--python-version (\d+\.\d+)", (ROOT / "Makefile").read_text())[1]
    assert f"python={lock_python}" in env["dependencies"]
    assert SpecifierSet(project["requires-python"]).contains(lock_python)
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        assert f'python-version: "{lock_python}"' in workflow.read_text(), workflow.name
