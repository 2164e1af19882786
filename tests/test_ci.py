"""CI runs what the README tells a contributor to run, and the version is
written in one place."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pyconsensus

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("run the whole test suite") :]
    (command,) = re.findall(r"```sh\n(.+?)\n```", section, re.DOTALL)[:1]
    assert "nox" in command
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pyconsensus.__version__)
