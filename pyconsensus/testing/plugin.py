"""The pytest plugin of ``pyconsensus.testing`` (installed with the library).

Fixtures:

- ``consensus_sim``: runs your workload as a test assertion
  (``consensus_sim.expect_ok(workload, scenario)``) and builds hand-driven
  clusters (``consensus_sim.cluster(machine)``). A failed run writes its
  replay (``.replay.json``) and picture (``.html``) into the artifacts
  directory and names both in the failure.
- ``consensus_protocol``, ``consensus_seed``, ``consensus_nemesis``: ask for
  any of them and the test is parametrised over the protocols, seeds and
  nemeses chosen on the command line or in a ``consensus`` marker;
  ``consensus_scenario`` combines them into a ``Scenario``.

Options: ``--consensus-seeds N`` (seeds 0..N-1, default 5),
``--consensus-protocols raft,zab,paxos``, ``--consensus-nemesis all``
(``;`` separates several nemesis sets, e.g. ``partitions;crashes,loss``),
``--consensus-artifacts DIR`` (default: beside ``--junitxml``, else
``sim-failures/``). A marker overrides the options for one test::

    @pytest.mark.consensus(protocols=["raft"], seeds=range(20), nemeses=[("all",)])

This module writes files; it is outside the pure core, like the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pyconsensus.sim.faults import Scheduled
    from pyconsensus.sim.sweep import RunResult, WorkloadFactory
    from pyconsensus.testing.cluster import SimCluster
    from pyconsensus.testing.determinism import MachineFactory
    from pyconsensus.testing.runs import Scenario

DEFAULT_SEEDS = 5
DEFAULT_PROTOCOLS = "raft,zab,paxos"
DEFAULT_NEMESIS = "all"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pyconsensus", "simulated consensus clusters (pyconsensus.testing)")
    group.addoption(
        "--consensus-seeds",
        type=int,
        default=DEFAULT_SEEDS,
        metavar="N",
        help=f"seeds 0..N-1 for consensus_seed (default {DEFAULT_SEEDS})",
    )
    group.addoption(
        "--consensus-protocols",
        default=DEFAULT_PROTOCOLS,
        metavar="LIST",
        help=f"protocols for consensus_protocol (default {DEFAULT_PROTOCOLS})",
    )
    group.addoption(
        "--consensus-nemesis",
        default=DEFAULT_NEMESIS,
        metavar="SETS",
        help="nemesis sets for consensus_nemesis, ';' between sets, ',' within one "
        f"(default {DEFAULT_NEMESIS})",
    )
    group.addoption(
        "--consensus-artifacts",
        default=None,
        metavar="DIR",
        help="where replays and pictures of failed runs go "
        "(default: beside --junitxml, else sim-failures/)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "consensus(protocols=None, seeds=None, nemeses=None): the protocols, seeds and "
        "nemesis sets this test's consensus_* fixtures range over",
    )


def _nemesis_sets(text: str) -> list[tuple[str, ...]]:
    sets = []
    for part in text.split(";"):
        names = tuple(name.strip() for name in part.split(",") if name.strip())
        sets.append(names)
    return sets


def consensus_choices(metafunc: pytest.Metafunc) -> Mapping[str, Sequence[Any]]:
    """The values each ``consensus_*`` fixture of ``metafunc``'s test ranges
    over: the command line's, unless a ``consensus`` marker says otherwise."""
    config = metafunc.config
    seeds = int(config.getoption("consensus_seeds"))
    if seeds < 1:
        raise pytest.UsageError(f"--consensus-seeds must be at least 1, got {seeds}")
    chosen: dict[str, Sequence[Any]] = {
        "consensus_protocol": [
            p.strip() for p in str(config.getoption("consensus_protocols")).split(",") if p.strip()
        ],
        "consensus_seed": list(range(seeds)),
        "consensus_nemesis": _nemesis_sets(str(config.getoption("consensus_nemesis"))),
    }
    marker = metafunc.definition.get_closest_marker("consensus")
    if marker is not None:
        for key, fixture in (
            ("protocols", "consensus_protocol"),
            ("seeds", "consensus_seed"),
            ("nemeses", "consensus_nemesis"),
        ):
            value: Iterable[Any] | None = marker.kwargs.get(key)
            if value is not None:
                chosen[fixture] = [tuple(v) if key == "nemeses" else v for v in value]
    return chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    choices = consensus_choices(metafunc)
    for fixture, values in choices.items():
        if fixture in metafunc.fixturenames:
            ids = [",".join(v) or "none" if isinstance(v, tuple) else str(v) for v in values]
            metafunc.parametrize(fixture, values, ids=ids)


@pytest.fixture
def consensus_protocol() -> str:
    """The protocol of this test case (parametrised; see the module docstring)."""
    return "raft"


@pytest.fixture
def consensus_seed() -> int:
    """The seed of this test case (parametrised; see the module docstring)."""
    return 0


@pytest.fixture
def consensus_nemesis() -> tuple[str, ...]:
    """The nemesis set of this test case (parametrised; see the module docstring)."""
    return ("all",)


@pytest.fixture
def consensus_scenario(
    consensus_protocol: str, consensus_seed: int, consensus_nemesis: tuple[str, ...]
) -> Scenario:
    """A ``Scenario`` of this test case's protocol, seed and nemesis set."""
    from pyconsensus.testing.runs import Scenario

    return Scenario(protocol=consensus_protocol, seed=consensus_seed, nemesis=consensus_nemesis)


class ConsensusSim:
    """What the ``consensus_sim`` fixture gives a test."""

    def __init__(self, request: pytest.FixtureRequest, artifacts: Path) -> None:
        self._request = request
        self.artifacts = artifacts

    def expect_ok(
        self,
        workload: WorkloadFactory,
        scenario: Scenario | None = None,
        schedule: Sequence[Scheduled] | None = None,
    ) -> RunResult:
        """``pyconsensus.testing.expect_ok``, writing the replay and the picture
        of a failure into the artifacts directory."""
        from pyconsensus.testing.errors import SimulationFailed
        from pyconsensus.testing.runs import Scenario, expect_ok

        try:
            return expect_ok(workload, scenario or Scenario(), schedule)
        except SimulationFailed as failure:
            replay_path, picture_path = self._write(failure)
            failure.args = (f"{failure.args[0]}\nreplay:  {replay_path}\npicture: {picture_path}",)
            raise

    def cluster(self, machine: MachineFactory, **options: Any) -> SimCluster:
        """A hand-driven ``SimCluster`` of ``machine()`` (options as its constructor's)."""
        from pyconsensus.testing.cluster import SimCluster

        return SimCluster(machine, **options)

    def _write(self, failure: Any) -> tuple[Path, Path]:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self._request.node.nodeid).strip("_")
        self.artifacts.mkdir(parents=True, exist_ok=True)
        stem = f"{name}-seed{failure.seed}"  # not Path.with_suffix: node ids hold dots
        replay_path = self.artifacts / f"{stem}.replay.json"
        picture_path = self.artifacts / f"{stem}.html"
        replay_path.write_text(failure.replay)
        picture_path.write_text(failure.picture)
        self._request.node.user_properties.append(("consensus_seed", failure.seed))
        self._request.node.user_properties.append(("consensus_replay", str(replay_path)))
        self._request.node.user_properties.append(("consensus_picture", str(picture_path)))
        return replay_path, picture_path


def artifacts_dir(config: pytest.Config) -> Path:
    """Where failed runs' files go (see the module docstring)."""
    chosen = config.getoption("consensus_artifacts")
    if chosen:
        return Path(str(chosen))
    junit = config.getoption("xmlpath", None)
    if junit:
        return Path(str(junit)).resolve().parent / "sim-failures"
    return Path(str(config.rootpath)) / "sim-failures"


@pytest.fixture
def consensus_sim(request: pytest.FixtureRequest) -> ConsensusSim:
    """Simulated clusters of your state machine, with failures written to disk."""
    return ConsensusSim(request, artifacts_dir(request.config))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    found = dict(item.user_properties)
    if report.when == "call" and report.failed and "consensus_seed" in found:
        report.sections.append(
            (
                "pyconsensus",
                f"seed {found['consensus_seed']}\nreplay:  {found.get('consensus_replay')}\n"
                f"picture: {found.get('consensus_picture')}",
            )
        )
