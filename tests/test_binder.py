"""The Binder launch button: what repo2docker, Binder's builder, would build from this repository.

repo2docker picks a build pack from the files it finds and writes a Dockerfile; both steps run
here without Docker. The image itself (conda solving environment.yml) is not built here.
"""

import subprocess
from pathlib import Path

import pytest
import yaml
from repo2docker.app import Repo2Docker
from repo2docker.buildpacks import CondaBuildPack

ROOT = Path(__file__).resolve().parents[1]


def picked_buildpack(repo: Path, monkeypatch):
    """The build pack repo2docker chooses for ``repo``, as in ``Repo2Docker.build``."""
    monkeypatch.chdir(repo)
    app = Repo2Docker()
    for buildpack_class in app.buildpacks:
        buildpack = buildpack_class(base_image=app.base_image)
        if buildpack.detect():
            buildpack.platform = "linux/amd64"
            return buildpack
    return app.default_buildpack(base_image=app.base_image)


@pytest.fixture
def binder(monkeypatch):
    return picked_buildpack(ROOT, monkeypatch)


def test_binder_builds_from_environment_yml_at_the_root(binder):
    assert type(binder) is CondaBuildPack
    assert binder.environment_yaml_path == "environment.yml"  # no binder/ or .binder/ folder overrides it


def test_binder_uses_the_python_of_the_lock(binder):
    assert binder.python_version == "3.11"


def test_repository_is_in_the_image_before_pip_installs_it(binder):
    # `-e .` in the pip section is a local reference: repo2docker then copies the repository
    # first and runs `env update` from the repository folder, so `.` is this repository.
    assert binder._should_preassemble_env is False
    dockerfile = binder.render()
    copy_repo = dockerfile.index("COPY --chown=1000:1000 src/ ${REPO_DIR}/")
    env_update = dockerfile.index('env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"')
    assert dockerfile.index("WORKDIR ${REPO_DIR}") < copy_repo < env_update


def test_check_tells_a_bad_binder_setup_apart(tmp_path, monkeypatch):
    # A version range is not read as a Python version, and without `-e .` the package is missing.
    (tmp_path / "environment.yml").write_text("dependencies:\n  - python>=3.11\n  - pip\n  - pip:\n      - nbval\n")
    buildpack = picked_buildpack(tmp_path, monkeypatch)
    assert type(buildpack) is CondaBuildPack
    assert buildpack.python_version == "3.10"  # repo2docker's default, not 3.11
    assert buildpack._should_preassemble_env is True
    (tmp_path / "environment.yml").unlink()
    (tmp_path / "requirements.txt").write_text("pymc\n")
    assert type(picked_buildpack(tmp_path, monkeypatch)) is not CondaBuildPack


def test_book_shows_a_binder_button_and_no_colab_button():
    from jupyter_book.config import get_final_config

    config, *_ = get_final_config(
        user_yaml=ROOT / "_config.yml", sourcedir=ROOT, cli_config={"latex_individualpages": False}
    )
    buttons = config["html_theme_options"]["launch_buttons"]
    assert buttons["binderhub_url"] == "https://mybinder.org"
    # Colab would open a chapter without penguin_utils: its imports would fail.
    assert buttons["colab_url"] == ""


def test_repository_address_is_written_in_one_place():
    address = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = [ROOT / name for name in tracked.splitlines() if (ROOT / name).is_file()]
    holders = [str(path.relative_to(ROOT)) for path in files if address in path.read_text(errors="ignore")]
    assert holders == ["_config.yml"]
