"""Which optional dependencies a command needs, and what to install when one is missing.

The core installs with ``attrs`` alone; the runtime's commands (``node``,
``demo``, ``status``) need the extras. Asking first turns a
``ModuleNotFoundError`` traceback into one line that names the extra.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Final

DISTRIBUTION: Final = "pyconsensus-lib"

RUNTIME: Final = ("trio", "lmdb", "cbor2")
"""What the trio runtime imports: network, storage, encoding."""

EXTRA_OF: Final = {"trio": "trio", "lmdb": "lmdb", "cbor2": "cbor"}
"""The extra of ``pyproject.toml`` that installs each module."""


def missing(modules: Sequence[str] = RUNTIME) -> list[str]:
    """The modules of ``modules`` that cannot be imported."""
    absent = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            absent.append(name)
    return absent


def missing_message(command: str, modules: Sequence[str] = RUNTIME) -> str | None:
    """One line saying what ``command`` lacks and the pip command that adds
    it, or ``None`` when everything is installed."""
    absent = missing(modules)
    if not absent:
        return None
    extras = ",".join(dict.fromkeys(EXTRA_OF.get(name, "all") for name in absent))
    names = " and ".join(absent)
    verb = "is" if len(absent) == 1 else "are"
    return (
        f"pyconsensus {command} needs {names}, which {verb} not installed (a core-only "
        f"install?): pip install '{DISTRIBUTION}[{extras}]' (or '{DISTRIBUTION}[all]' for "
        "the whole runtime)"
    )


def lacks_runtime(command: str) -> bool:
    """Whether ``command`` cannot run for want of the runtime's extras; if so,
    the line that says what to install is printed on stderr."""
    message = missing_message(command)
    if message is not None:
        print(message, file=sys.stderr)
    return message is not None
