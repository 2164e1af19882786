"""Runs the atheris fuzz target briefly (the long runs are manual, see its docstring)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyconsensus.adapters.cbor import default_codec
from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import SnapshotMeta, checksum
from pyconsensus.core.types import Entry, Snapshot
from pyconsensus.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    RequestVote,
    RequestVoteResponse,
)

TARGET = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_codec.py"
RUNS = 300_000
SECONDS = 8

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="atheris is not installed (pip install atheris; Linux wheels only)",
)

META = SnapshotMeta(3, 1, Membership({1, 2, 3}), 5, checksum(b"state"))


def seed_corpus(directory: Path) -> None:
    """One valid frame per Raft message and value type, so mutations start from
    frames that get past the header checks."""
    entries = tuple(Entry(i + 1, 1, bytes([i]) * 3) for i in range(10))
    samples: list[object] = [
        Entry(1, 1, b"x"),
        Snapshot(3, 1, b"state"),
        RequestVote(1, 2, 3, 4, 2, True),
        RequestVoteResponse(2, 1, 3, True),
        AppendEntries(1, 2, 3, 0, 0, entries[:2], 1),
        AppendEntries(1, 2, 3, 0, 0, entries, 1),
        AppendEntriesResponse(2, 1, 3, False, 4, 2, 1),
        Heartbeat(1, 2, 3, 4, 5),
        HeartbeatResponse(2, 1, 3, 5),
        InstallSnapshot(1, 2, 3, META, 0, b"state", True),
        InstallSnapshotResponse(2, 1, 3, META, 5),
    ]
    codec = default_codec()
    for i, sample in enumerate(samples):
        (directory / f"seed-{i}").write_bytes(codec.encode(sample))


def test_fuzz_target_finds_nothing_in_a_short_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seed_corpus(corpus)
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            f"-runs={RUNS}",
            f"-max_total_time={SECONDS}",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        # A bound to end a hang, not a timing: start-up (atheris instruments the
        # imports) took over a minute on a loaded two-core machine.
        timeout=SECONDS + 600,
        env=env,
        check=False,
    )
    log = result.stderr[-4000:]
    assert result.returncode == 0, f"the fuzzer found a failing input:\n{log}"
    done = re.search(r"Done (\d+) runs", result.stderr)
    assert done is not None, log
    assert int(done.group(1)) >= 10_000, log  # it really fuzzed
    assert not list(tmp_path.glob("crash-*"))
