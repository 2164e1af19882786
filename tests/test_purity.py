"""The core is pure: no module under pyconsensus/ (except the CLI) does I/O,
reads the clock or uses the global random number generator.

The check parses every module and looks at imports and calls; a second test
shows that it catches each kind of violation.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "pyconsensus"
EXEMPT = {"cli", "__main__.py", "adapters"}  # may do I/O; adapters is a link to adapters/
# The testing kit's pytest plugin writes replays and pictures (its cross-process
# determinism check, which starts processes, is in cli/). The rest is pure.
EXEMPT_FILES = {"testing/plugin.py"}

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
        if relative.parts[0] in EXEMPT or relative.as_posix() in EXEMPT_FILES:
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


# -- arrows point down -------------------------------------------------------

REPO = ROOT.parent
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("__init__",),  # the package root re-exports the core's contract
    ("raft", "zab", "paxos", "broadcast"),
    ("rsm", "service", "protocols"),
    ("sim", "adapters"),
    ("testing",),
    ("cli",),
    ("__main__",),
)
"""The units of pyconsensus from the bottom up. A module may import its own
unit and any unit of a lower layer: never one above (up), nor another unit of
its own layer (sideways). Imports only made for type checking count too."""

RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """``pyconsensus.raft.node`` -> ``raft``; the package root is ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, module)`` of every pyconsensus import in ``source`` (the module
    ``module``), wherever it is: top level, function body or ``TYPE_CHECKING``
    block. ``from package import name`` yields ``package.name`` (which may be a
    submodule or just a name in ``package``)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "pyconsensus"]


def wrong_arrows(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every import in ``source`` (the module ``module``) that points up or sideways."""
    here = unit_of(module)
    found = []
    for line, target in imported_modules(source, module, is_package):
        there = unit_of(target)
        if there not in RANK:  # a name of the root package: ``from pyconsensus import x``
            there = "__init__"
        if there == here:
            continue
        if RANK[there] >= RANK[here]:
            way = "up" if RANK[there] > RANK[here] else "sideways"
            found.append(f"{module}:{line} imports {target} ({here} -> {there}: {way})")
    return found


def package_modules() -> dict[str, Path]:
    """Module name -> file, for pyconsensus/ and adapters/ (as pyconsensus.adapters)."""
    modules = {}
    for base, prefix in (
        (ROOT, ("pyconsensus",)),
        (REPO / "adapters", ("pyconsensus", "adapters")),
    ):
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            if base == ROOT and parts[0] == "adapters":
                continue  # the link to adapters/, walked above as itself
            name = (*prefix, *parts)
            modules[".".join(name[:-1] if name[-1] == "__init__" else name)] = path
    return modules


def import_graph(sources: dict[str, str], packages: Collection[str] = ()) -> dict[str, set[str]]:
    """Module -> the modules it imports, given each module's source (``packages``:
    the modules that are packages). ``from a import b`` is ``a.b`` if that is a
    module, else ``a``."""
    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        targets = set()
        for _, name in imported_modules(source, module, module in packages):
            target = name
            while target not in sources and "." in target:
                target = target.rpartition(".")[0]
            if target in sources and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module) for module in package_modules()}
    assert units == set(RANK)


def test_arrows_point_down() -> None:
    modules = package_modules()
    assert len(modules) > 100  # the walk found both trees
    problems = [
        problem
        for module, path in modules.items()
        for problem in wrong_arrows(path.read_text(), module, path.name == "__init__.py")
    ]
    assert problems == []


def test_no_module_imports_itself_in_a_circle() -> None:
    modules = package_modules()
    sources = {module: path.read_text() for module, path in modules.items()}
    packages = {module for module, path in modules.items() if path.name == "__init__.py"}
    assert cycles(import_graph(sources, packages)) == []


@pytest.mark.parametrize(
    ("module", "snippet"),
    [
        ("pyconsensus.raft.node", "from pyconsensus.sim.checker import Checker"),
        ("pyconsensus.core.ready", "import pyconsensus.raft.messages"),
        ("pyconsensus.raft.node", "from pyconsensus.zab.node import ZabNode"),
        ("pyconsensus.rsm.kv", "from pyconsensus.protocols import get_protocol"),
        ("pyconsensus.adapters.trio.runtime", "from pyconsensus.sim import get_spec"),
        ("pyconsensus.sim.sweep", "def f():\n    from pyconsensus.cli import main"),
        ("pyconsensus.zab.node", "if TYPE_CHECKING:\n    from pyconsensus.sim import Simulation"),
        ("pyconsensus.paxos.node", "from ..sim import Simulation"),
    ],
)
def test_the_layer_check_catches_an_arrow_up_or_sideways(module: str, snippet: str) -> None:
    assert wrong_arrows(snippet, module) != []


@pytest.mark.parametrize(
    ("module", "snippet"),
    [
        ("pyconsensus.raft.node", "from pyconsensus.core.ready import Ready"),
        ("pyconsensus.raft.node", "from pyconsensus.raft.log import RaftLog"),
        ("pyconsensus.sim.sweep", "from pyconsensus.protocols import get_protocol"),
        ("pyconsensus.cli.sim_command", "from pyconsensus.sim import sweep"),
        ("pyconsensus.adapters.trio.runtime", "from pyconsensus.adapters.cbor import Codec"),
    ],
)
def test_the_layer_check_allows_arrows_down_and_within_a_unit(module: str, snippet: str) -> None:
    assert wrong_arrows(snippet, module) == []


def test_the_cycle_check_finds_a_circle_through_type_only_imports() -> None:
    sources = {
        "pyconsensus.sim.checker": "if TYPE_CHECKING:\n    import pyconsensus.sim.simulation",
        "pyconsensus.sim.simulation": "from pyconsensus.sim.specs import ProtocolSpec",
        "pyconsensus.sim.specs": "from pyconsensus.sim.checker import Checker",
        "pyconsensus.sim.sweep": "from pyconsensus.sim.simulation import Simulation",
    }
    assert cycles(import_graph(sources)) == [
        ["pyconsensus.sim.checker", "pyconsensus.sim.simulation", "pyconsensus.sim.specs"]
    ]
