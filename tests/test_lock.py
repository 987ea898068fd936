"""requirements.lock: in step with pyproject.toml, and what the running environment holds.

`make book` and `make test` install the lock, so the versions that produced the book's checked
numbers can be had again. `make lock` rewrites it after pyproject.toml changed.
"""

import os
import re
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PROJECT = "penguin-mixtures"
#: Installed by `python -m venv` and `make` itself, not by the lock.
NOT_LOCKED = {"pip", PROJECT}


def read_lock(text: str) -> dict[str, Version]:
    """Pins of a lock file: ``{canonical name: version}``; comments and ``# via`` lines skipped."""
    pins = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match is None:
            raise ValueError(f"requirements.lock line {number} is not an exact pin 'name==version': {line!r}")
        name = canonicalize_name(match[1])
        if name in pins:
            raise ValueError(f"requirements.lock pins {name} twice (line {number})")
        pins[name] = Version(match[2])
    return pins


def project_requirements() -> list[Requirement]:
    """Every requirement of pyproject.toml: the library's and those of all extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return [Requirement(req) for req in reqs]


def unmet_requirements(requirements: list[Requirement], pins: dict[str, Version]) -> list[str]:
    """The requirements a set of pins leaves unpinned or pins outside their version range."""
    problems = []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req} is not pinned")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req} is pinned to {pins[name]}")
    return problems


def installed_versions() -> dict[str, Version]:
    # The environment's own site-packages, not all of sys.path: packages that vendor others
    # (setuptools puts its _vendor folder on sys.path once imported) are not installations.
    site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    return {
        canonicalize_name(dist.metadata["Name"]): Version(dist.version) for dist in metadata.distributions(path=site)
    }


def test_every_pyproject_requirement_is_pinned_within_its_range():
    problems = unmet_requirements(project_requirements(), read_lock(LOCK.read_text()))
    message = "requirements.lock is out of step with pyproject.toml; run `make lock`:\n"
    assert not problems, message + "\n".join(problems)


def test_lock_does_not_pin_the_project_itself():
    # make installs the project with `uv pip install --no-deps -e .` (or pip) after the lock.
    assert PROJECT not in read_lock(LOCK.read_text())


def test_sync_check_finds_a_missing_and_an_out_of_range_pin():
    pins = read_lock("pymc==5.28.5\n    # via penguin-mixtures\nnumpy==2.4.6\n")
    reqs = [Requirement("pymc>=6"), Requirement("numpy"), Requirement("nutpie"), Requirement("pywin32; os_name == 'x'")]
    assert unmet_requirements(reqs, pins) == ["pymc>=6 is pinned to 5.28.5", "nutpie is not pinned"]


def test_lock_reader_refuses_what_is_not_an_exact_pin():
    with pytest.raises(ValueError, match=r"line 2 is not an exact pin 'name==version': 'numpy>=2'"):
        read_lock("pymc==5.28.5\nnumpy>=2\n")
    with pytest.raises(ValueError, match="pins numpy twice"):
        read_lock("numpy==2.4.6\nnumpy==2.4.5\n")


def lock_differences(pins: dict[str, Version], installed: dict[str, Version]) -> list[str]:
    """How an environment differs from the lock, one line per package."""
    wrong = [
        f"{name}: lock {pins[name]}, installed {installed[name]}"
        for name in pins.keys() & installed.keys()
        if pins[name] != installed[name]
    ]
    missing = [f"{name}: not installed" for name in pins.keys() - installed.keys()]
    extra = [f"{name}: installed, not in the lock" for name in installed.keys() - pins.keys() - NOT_LOCKED]
    return sorted(wrong) + sorted(missing) + sorted(extra)


def test_running_environment_is_exactly_the_lock():
    """What `make test` and `make book` run on is what requirements.lock pins, nothing more or less."""
    differences = lock_differences(read_lock(LOCK.read_text()), installed_versions())
    if os.environ.get("PENGUIN_MIXTURES_UNLOCKED") == "1":
        # make test-latest installs the newest allowed versions on purpose; say which moved.
        pytest.skip("make test-latest, newest versions:\n" + "\n".join(differences))
    message = "this environment is not requirements.lock (`make test` reinstalls it from the lock):\n"
    assert not differences, message + "\n".join(differences)


def test_difference_report_names_each_kind_of_difference():
    pins = {"numpy": Version("2.4.6"), "pymc": Version("5.28.5")}
    installed = {"numpy": Version("2.5.0"), "pip": Version("26.3"), "requests": Version("2.33")}
    assert lock_differences(pins, installed) == [
        "numpy: lock 2.4.6, installed 2.5.0",
        "pymc: not installed",
        "requests: installed, not in the lock",
    ]
