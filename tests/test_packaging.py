"""Packaging: one version source, ``python -m cimqb_traj``, py.typed, LICENSE, CITATION.cff, CHANGELOG."""

import importlib.metadata
import importlib.resources
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import cimqb_traj

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_installed_version_is_the_package_version():
    # Metadata is written at install time from __version__; an editable install older than a
    # version bump goes red here too (reinstall).
    assert importlib.metadata.version("cimqb_traj") == cimqb_traj.__version__


def test_version_has_one_source():
    project = _pyproject()
    assert "version" not in project["project"], "version written in pyproject.toml as well as __version__"
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cimqb_traj.__version__"}
    init = (ROOT / "cimqb_traj" / "__init__.py").read_text()
    assert len(re.findall(r"^__version__\s*=", init, flags=re.M)) == 1


def test_python_m_runs_the_cli():
    help_ = subprocess.run([sys.executable, "-m", "cimqb_traj", "--help"], capture_output=True, text=True,
                           timeout=60)
    assert help_.returncode == 0, help_.stderr
    assert help_.stdout.startswith("usage: cimqb-traj")
    # A refusal that main() returns (not raises): the exit code must be passed through.
    refused = subprocess.run([sys.executable, "-m", "cimqb_traj", "charge", "--ns", "100000"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("cimqb-traj: error:")


def test_version_option_prints_the_package_version():
    out = subprocess.run([sys.executable, "-m", "cimqb_traj", "--version"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"cimqb-traj {cimqb_traj.__version__}"


def test_py_typed_is_package_data():
    # Checks the imported copy: the source tree here, the wheel's files where installed (CI).
    assert importlib.resources.files("cimqb_traj").joinpath("py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["cimqb_traj"]


def test_license_is_bsd3():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License\n\nCopyright (c) 2026, the cimqb_traj developers\n")
    assert "Neither the name of the copyright holder" in text  # clause 3, which BSD-2 lacks
    assert _pyproject()["project"]["license"] == "BSD-3-Clause"


def test_citation_cff():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors"):  # required by CFF 1.2.0
        assert cff[key], key
    assert cff["cff-version"] == "1.2.0"
    assert cff["type"] == "software"
    assert str(cff["version"]) == cimqb_traj.__version__
    assert cff["license"] == _pyproject()["project"]["license"]
    paper = cff["references"][0]
    assert paper["title"] == "Quantum batteries in coherent Ising machine"
    assert [a["family-names"] for a in paper["authors"]] == ["Zhang", "Ma", "Jin", "Liu", "Ai"]
    assert paper["doi"] == "10.1103/4bj4-4fpy"


def test_changelog_has_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert f"## [{cimqb_traj.__version__}]" in text
