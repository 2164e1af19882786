"""Build guard; the package's metadata lives in pyproject.toml.

pyconsensus.adapters is the top-level adapters/ folder, seen through the
symlink pyconsensus/adapters. A checkout without the symlink (git with
core.symlinks=false) would build a wheel without the adapters, so refuse.
An sdist holds the folder itself, so building from one passes.
"""

from pathlib import Path

from setuptools import setup

if not (Path(__file__).parent / "pyconsensus" / "adapters" / "__init__.py").is_file():
    raise SystemExit(
        "pyconsensus/adapters is missing: it must be a symlink to ../adapters "
        "(clone with symlinks enabled) or, in an sdist, the adapters folder itself"
    )

setup()
