"""The core is pure: no module under pyconsensus/ (except the CLI) does I/O,
reads the clock or uses the global random number generator.

The check parses every module and looks at imports and calls; a second test
shows that it catches each kind of violation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "pyconsensus"
EXEMPT = {"cli", "__main__.py", "adapters"}  # may do I/O; adapters is a link to adapters/

FORBIDDEN_MODULES = {
    "asyncio",
    "cbor2",
    "datetime",
    "io",
    "lmdb",
    "logging",
    "multiprocessing",
    "os",
    "pathlib",
    "secrets",
    "selectors",
    "shutil",
    "signal",
    "socket",
    "subprocess",
    "sys",
    "tempfile",
    "threading",
    "time",
    "trio",
    "urllib",
    "uuid",
}
FORBIDDEN_CALLS = {"open", "print", "input", "breakpoint", "exec", "eval", "__import__"}
# From the random module only the Random class may be used (always injected, seeded).
ALLOWED_RANDOM_NAMES = {"Random"}


def violations(source: str, filename: str = "<module>") -> list[str]:
    """Every impure construct in ``source``, as readable strings."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in FORBIDDEN_MODULES:
                    found.append(f"{filename}:{node.lineno} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top in FORBIDDEN_MODULES:
                found.append(f"{filename}:{node.lineno} imports from {node.module}")
            if top == "random":
                for alias in node.names:
                    if alias.name not in ALLOWED_RANDOM_NAMES:
                        found.append(f"{filename}:{node.lineno} imports random.{alias.name}")
        elif isinstance(node, ast.Attribute):
            if (
                isinstance(node.value, ast.Name)
                and node.value.id == "random"
                and node.attr not in ALLOWED_RANDOM_NAMES
            ):
                found.append(f"{filename}:{node.lineno} uses random.{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_CALLS
        ):
            found.append(f"{filename}:{node.lineno} calls {node.func.id}()")
    return found


def core_modules() -> list[Path]:
    modules = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in EXEMPT:
            continue
        modules.append(path)
    return modules


def test_the_core_is_pure() -> None:
    modules = core_modules()
    assert len(modules) > 20  # the walk really found the core
    problems = [v for path in modules for v in violations(path.read_text(), str(path))]
    assert problems == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import trio",
        "import socket",
        "from threading import Thread",
        "import asyncio.tasks",
        "import lmdb",
        "from cbor2 import dumps",
        "import time\ntime.monotonic()",
        "from time import perf_counter",
        "import random\nrandom.random()",
        "import random\nx = random.choice([1])",
        "from random import randint",
        "open('f')",
        "print('x')",
        "import os",
    ],
)
def test_the_purity_check_catches_each_kind_of_violation(snippet: str) -> None:
    assert violations(snippet) != []


def test_the_purity_check_allows_an_injected_random() -> None:
    assert violations("from random import Random\nrng = Random(1)\nrng.random()") == []
