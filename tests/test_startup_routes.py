"""The routes into the lab stay true: make lab (as root too), pip, the hub (repo2docker),
and CI's choice of Pythons. What this machine can check without building an image: the
binder files parse and install what pyproject.toml says, the Makefile gives --allow-root
only to root, the news prompt's setting exists in the installed JupyterLab."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import smoke_lab
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
OVERRIDES = BINDER / "jupyterlab-settings" / "overrides.json"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NEWS_PLUGIN = "@jupyterlab/apputils-extension:notification"


def _requirements(lines: list[str]) -> dict[str, SpecifierSet]:
    reqs = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): r.specifier for r in reqs}


def _binder_requirements() -> dict[str, SpecifierSet]:
    lines = [line.split("#")[0].strip()
             for line in (BINDER / "requirements.txt").read_text().splitlines()]
    return _requirements([line for line in lines if line])


def test_binder_installs_what_pyproject_declares():
    """binder/requirements.txt = the dependencies plus the `dask` extra, same versions."""
    lines = PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dask"]
    expected = _requirements(lines)
    found = _binder_requirements()
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    differ = sorted(n for n in set(found) & set(expected) if found[n] != expected[n])
    assert not (missing or extra or differ), (
        f"binder/requirements.txt disagrees with pyproject.toml: missing {missing}, "
        f"not in pyproject {extra}, other versions {[(n, str(found[n])) for n in differ]}; "
        "its package lines should read:\n" + "\n".join(lines))


def test_binder_python_satisfies_requires_python():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-"), f"runtime.txt must read python-X.Y, not {runtime!r}"
    version = Version(runtime.removeprefix("python-"))
    assert version in SpecifierSet(PYPROJECT["requires-python"]), runtime


def test_post_build_is_valid_bash_installs_the_package_and_the_settings():
    post = BINDER / "postBuild"
    assert post.stat().st_mode & stat.S_IXUSR, "binder/postBuild must be executable"
    bash = shutil.which("bash")
    if bash:
        done = subprocess.run([bash, "-n", str(post)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    text = post.read_text()
    assert any(line.strip().startswith("python -m pip install") and line.rstrip().endswith(" .")
               for line in text.splitlines()), "postBuild must install asynclab from ."
    assert str(OVERRIDES.relative_to(ROOT)) in text, "postBuild must install the overrides"
    assert "share/jupyter/lab/settings" in text


def test_news_prompt_is_off_by_a_setting_the_installed_jupyterlab_knows():
    overrides = json.loads(OVERRIDES.read_text())
    assert overrides[NEWS_PLUGIN]["fetchNews"] == "false"
    import jupyterlab

    schema_file = (Path(jupyterlab.__file__).parent / "schemas" / "@jupyterlab"
                   / "apputils-extension" / "notification.json")
    schema = json.loads(schema_file.read_text())["properties"]
    allowed = [choice["const"] for choice in schema["fetchNews"]["oneOf"]]
    assert "false" in allowed, f"fetchNews allows {allowed} in this JupyterLab"
    assert set(overrides[NEWS_PLUGIN]) <= set(schema), "a setting this JupyterLab lacks"


# --- make lab -----------------------------------------------------------------------------


def _make_lab_command(tmp_path: Path, uid: str) -> str:
    """What `make lab` would run (make -n), with `id -u` answering ``uid``."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (fake / "id").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    venv = tmp_path / "venv"  # never built: -o marks the install step as done
    done = subprocess.run([make, "-n", "-o", f"{venv}/bin/.installed", "lab", f"VENV={venv}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "jupyter lab" in line]
    assert len(lines) == 1, done.stdout
    return lines[0]


def test_make_lab_allows_root_only_for_root(tmp_path):
    as_root = _make_lab_command(tmp_path, "0")
    as_user = _make_lab_command(tmp_path, "1000")
    assert "--allow-root" in as_root.split()
    assert "--allow-root" not in as_user.split()


def test_make_lab_opens_notebook_00_with_the_lab_settings(tmp_path):
    words = _make_lab_command(tmp_path, "1000").split()
    assert words[-1] == "notebooks/00_start_here.ipynb"
    assert f"--LabApp.app_settings_dir={OVERRIDES.parent}" in words


def test_smoke_lab_starts_jupyter_as_make_lab_decides(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--allow-root" in smoke_lab.lab_command("jupyter", 8888, "t")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    cmd = smoke_lab.lab_command("jupyter", 8888, "t")
    assert "--allow-root" not in cmd
    assert cmd[:3] == ["jupyter", "lab", "notebooks/00_start_here.ipynb"]
    assert "--ip=127.0.0.1" in cmd and "--no-browser" in cmd


# --- CI's Pythons ---------------------------------------------------------------------------


def _fake_python(path: Path, version: tuple[int, int, int]) -> None:
    """A stand-in interpreter answering .ci/run's version probe as ``version`` would."""
    code = (f"import sys; sys.version_info = {version!r}; "
            "exec(sys.argv[2]) if sys.argv[1] == '-c' else None")
    path.write_text(f"#!/bin/sh\nexec {sys.executable} -c {json.dumps(code)} \"$@\"\n")
    path.chmod(0o755)


def test_ci_tests_every_python_from_3_11_on_path_and_pyenv(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    _fake_python(fake / "python3.14", (3, 14, 0))
    _fake_python(fake / "python3.10", (3, 10, 9))
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "--list"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split()
    assert str(fake / "python3.14") in listed, listed
    assert str(fake / "python3.10") not in listed, listed
    assert listed[-1] == str(fake / "python3.14"), "newest last, oldest first"
    versions = [subprocess.run([p, "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True).stdout for p in listed]
    assert len(set(versions)) == len(versions), f"one interpreter per version: {listed}"
