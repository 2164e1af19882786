"""The pytest plugin, through a real pytest process: installed by the entry
point, it parametrises tests and writes the replay and picture of a failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from pyconsensus.testing.plugin import consensus_choices
from tests.testing.machines import EXAMPLE

BROKEN_TEST = """
import pytest
from counter import Counter, CounterWorkload
from pyconsensus.testing import Scenario


class Forgetful(Counter):
    def restore(self, data):
        self.total = 0


class ForgetfulWorkload(CounterWorkload):
    def new_machine(self):
        return Forgetful()


@pytest.mark.consensus(protocols=["raft"], seeds=[0])
def test_forgetful(consensus_sim, consensus_seed):
    scenario = Scenario(seed=consensus_seed, compact_every=8, shrink_runs=5)
    consensus_sim.expect_ok(ForgetfulWorkload, scenario)
"""


def _pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (directory / "counter.py").write_text(EXAMPLE.read_text())
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(directory)],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=300,
        check=False,
    )


def test_a_failed_run_writes_its_replay_and_picture_and_names_them(tmp_path: Path) -> None:
    (tmp_path / "test_broken.py").write_text(BROKEN_TEST)
    artifacts = tmp_path / "failures"
    done = _pytest(tmp_path, f"--consensus-artifacts={artifacts}")
    assert done.returncode == 1, done.stdout + done.stderr
    replays = list(artifacts.glob("*.replay.json"))
    pictures = list(artifacts.glob("*.html"))
    assert len(replays) == 1 and len(pictures) == 1
    assert replays[0].name == "test_broken.py_test_forgetful_0-seed0.replay.json"
    assert "Linearizability violated" in done.stdout
    assert f"replay:  {replays[0]}" in done.stdout
    assert "pyconsensus" in done.stdout and "seed 0" in done.stdout


class _Config:
    def __init__(self, **options: object) -> None:
        self.options = options

    def getoption(self, name: str) -> object:
        return self.options[name]


class _Definition:
    def __init__(self, marker: pytest.Mark | None) -> None:
        self.marker = marker

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return self.marker if name == "consensus" else None


def _metafunc(marker: pytest.Mark | None = None, **options: object) -> pytest.Metafunc:
    settings = {
        "consensus_seeds": 5,
        "consensus_protocols": "raft,zab,paxos",
        "consensus_nemesis": "all",
        **options,
    }
    fake = SimpleNamespace(config=_Config(**settings), definition=_Definition(marker))
    return cast(pytest.Metafunc, fake)


def test_the_command_line_chooses_protocols_seeds_and_nemesis_sets() -> None:
    chosen = consensus_choices(
        _metafunc(
            consensus_seeds=3,
            consensus_protocols="raft, paxos",
            consensus_nemesis="partitions;crashes,loss",
        )
    )
    assert chosen["consensus_protocol"] == ["raft", "paxos"]
    assert chosen["consensus_seed"] == [0, 1, 2]
    assert chosen["consensus_nemesis"] == [("partitions",), ("crashes", "loss")]


def test_a_marker_overrides_the_command_line_for_one_test() -> None:
    marker = pytest.mark.consensus(seeds=range(7, 9), nemeses=[["all"]]).mark
    chosen = consensus_choices(_metafunc(marker))
    assert chosen["consensus_seed"] == [7, 8]
    assert chosen["consensus_nemesis"] == [("all",)]
    assert chosen["consensus_protocol"] == ["raft", "zab", "paxos"]


def test_zero_seeds_is_a_usage_error() -> None:
    with pytest.raises(pytest.UsageError, match="--consensus-seeds must be at least 1"):
        consensus_choices(_metafunc(consensus_seeds=0))
