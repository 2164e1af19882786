"""The release artefacts hold the whole library, and an editable install is
visible to a user's type checker.

``python -m build`` makes the sdist and then the wheel *from that sdist*,
which is how a release and ``pip install`` of an sdist work. The adapters
folder reaches the package tree through a symlink, so these tests catch a
build that loses it. Each artefact is installed into a fresh virtual
environment (dependencies from the package index) and used from outside the
repository, so nothing can be imported from the checkout by accident.

They need the package index (build isolation fetches setuptools; the venvs
fetch attrs, trio, lmdb and cbor2) and take about a minute: ``-m 'not
packaging'`` leaves them out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import pyconsensus

ROOT = Path(__file__).resolve().parent.parent
DIST = "pyconsensus-lib"

pytestmark = pytest.mark.packaging

IMPORT_CHECK = """
import pyconsensus, pyconsensus.adapters.trio, pyconsensus.adapters.lmdb, pyconsensus.adapters.cbor
import pyconsensus.cli.demo
print(pyconsensus.__file__)
"""

USER_CODE = """
from pyconsensus.adapters.trio import NodeConfig, open_node

reveal_type(open_node)
config: NodeConfig = 42  # an error only if mypy really sees the type
"""


def _run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        # PYTHONPATH or a venv of the caller must not leak into the fresh one.
        env={k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}},
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _venv_with(path: Path, *requirements: str) -> Path:
    """A new virtual environment with ``requirements`` installed; its python.

    It gets no pip of its own: the running pip installs into it (faster)."""
    venv.create(path, with_pip=False)
    python = path / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python, "install", "-q")
    _run(*pip, *requirements, cwd=path)
    return python


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The wheel, and a fresh venv per way of installing (made in parallel:
    the time goes mostly to the package index and to setuptools)."""
    base = tmp_path_factory.mktemp("packaging")
    dist = base / "dist"
    dist.mkdir()
    _run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=dist)
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    with ThreadPoolExecutor(max_workers=3) as pool:
        venvs = {
            "sdist": pool.submit(_venv_with, base / "sdist", f"{DIST}[all] @ {sdist.as_uri()}"),
            "wheel": pool.submit(_venv_with, base / "wheel", f"{DIST}[all] @ {wheel.as_uri()}"),
            "editable": pool.submit(_venv_with, base / "editable", "-e", f"{ROOT}[trio]"),
        }
        return {"wheel_file": wheel} | {kind: job.result() for kind, job in venvs.items()}


def test_the_wheel_holds_every_module_of_the_source_tree(built: dict[str, Path]) -> None:
    # rglob does not enter the symlink pyconsensus/adapters: add its target.
    sources = [p.relative_to(ROOT).as_posix() for p in (ROOT / "pyconsensus").rglob("*.py")]
    sources += [
        "pyconsensus/" + p.relative_to(ROOT).as_posix() for p in (ROOT / "adapters").rglob("*.py")
    ]
    with zipfile.ZipFile(built["wheel_file"]) as wheel:
        names = set(wheel.namelist())
    assert sources
    assert sorted(set(sources) - names) == []
    assert "pyconsensus/py.typed" in names


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_an_installed_artefact_imports_the_adapters_and_runs_the_cli(
    kind: str, built: dict[str, Path], tmp_path: Path
) -> None:
    python = built[kind]
    location = _run(python, "-c", IMPORT_CHECK, cwd=tmp_path)
    assert location.startswith(str(python.parent.parent)), location  # not the checkout
    version = _run(python.parent / "pyconsensus", "--version", cwd=tmp_path)
    assert version.strip() == f"pyconsensus {pyconsensus.__version__}"


def test_a_users_mypy_sees_the_adapters_of_an_editable_install(
    built: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "use.py").write_text(USER_CODE)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-executable",
            built["editable"],
            "use.py",
        ],
        cwd=tmp_path,  # outside the checkout: its pyproject.toml plays no part
        capture_output=True,
        text=True,
        check=False,
    )
    assert "import-not-found" not in done.stdout, done.stdout
    assert "pyconsensus.adapters.trio.config.NodeConfig" in done.stdout, done.stdout
    assert 'Incompatible types in assignment (expression has type "int"' in done.stdout
