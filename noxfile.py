"""The project's checks, one nox session each; ``nox`` runs them all, as CI does.

    python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'
    .venv/bin/nox                 # lint, types, docs, tests
    .venv/bin/nox -s tests        # one session
    .venv/bin/nox -s tests -- tests/raft -k vote   # arguments go to pytest
    .venv/bin/nox -s soak         # the soaks, which the tests session leaves out

Every session runs in the environment nox itself was installed in
(``venv_backend="none"``): everything is installed once by the line above, and
CI installs nothing twice. Tools are run as ``python -m TOOL`` with that
environment's interpreter, so no activation is needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "types", "docs", "tests"]
nox.options.default_venv_backend = "none"
nox.options.error_on_external_run = False

PYTHON = sys.executable

# Coverage is measured over a fast tier, where tracing costs little: the
# tests of the cores, the state machine layer, storage, the adapters and the
# transcripts, without their seeded sweeps. Tracing the simulator's sweeps and
# the rest (tests/sim, the real-process tests) would more than double their
# time (traced, tests/sim/test_trace_digests.py took 2.4x the CPU and the
# pipelined-writes sweeps 3.0x - they are now tests/sim/test_pipelined_writes_sweeps.py;
# the unit tests 1.3x).
TRACED_DIRS = {
    "core",
    "raft",
    "zab",
    "paxos",
    "broadcast",
    "rsm",
    "storage",
    "adapters",
    "transcripts",
    # In-process nodes on real sockets and the testing kit: they cover the
    # runtime's connection handling, TLS and pyconsensus.testing cheaply.
    "security",
    "testing",
}
UNTRACED_FILES = {"test_sweep.py"}  # seeded sweeps
COVERAGE_FLOOR = 72  # percent of the lines of pyconsensus/ and adapters/; measured 76.0


def _split_tiers() -> tuple[list[str], list[str]]:
    """Every test file, as (traced, untraced): each runs exactly once."""
    files = sorted(Path("tests").rglob("test_*.py"))
    traced = [f for f in files if f.parts[1] in TRACED_DIRS and f.name not in UNTRACED_FILES]
    return [str(f) for f in traced], [str(f) for f in files if f not in traced]


def _tool(session: nox.Session, *args: str) -> None:
    session.run(PYTHON, "-m", *args)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff: the lint rules and the formatting."""
    _tool(session, "ruff", "check", ".")
    _tool(session, "ruff", "format", "--check", ".")


@nox.session(venv_backend="none")
def types(session: nox.Session) -> None:
    """mypy --strict over the configured tree (pyproject's [tool.mypy])."""
    _tool(session, "mypy")


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """The documentation site with its API reference; any warning fails it."""
    _tool(session, "mkdocs", "build", "--strict", "--site-dir", session.create_tmp())


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The test suite; with arguments, only what they select (no coverage).

    pytest exits with 5 when it ran no test; nox fails on it like on any other
    non-zero code, so a selection that matches nothing cannot pass quietly.
    """
    if session.posargs:
        _tool(session, "pytest", "-q", *session.posargs)
        return
    traced, untraced = _split_tiers()
    cov = ["--cov", "--cov-report=term:skip-covered", f"--cov-fail-under={COVERAGE_FLOOR}"]
    # One worker per core (pytest-xdist): the suite is CPU-bound, and the
    # real-process tests wait on conditions, so a busy neighbour only slows them.
    parallel = ["-n", "auto"]
    _tool(session, "pytest", "-q", *parallel, *cov, *traced)  # what: [tool.coverage.run]
    _tool(session, "pytest", "-q", *parallel, *untraced)


@nox.session(venv_backend="none")
def soak(session: nox.Session) -> None:
    """The soaks only: the tests marked slow, which ``tests`` leaves out
    (the long remainders of the seeded sweeps; CONTRIBUTING.md)."""
    _tool(session, "pytest", "-q", "-n", "auto", "-m", "slow", *session.posargs)
