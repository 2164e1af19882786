"""Refactorings change no behaviour: the same seeds give the same trace digests.

``trace_digests.json`` holds the digest of every case below, recorded from the
code as it was. A change that alters what a protocol does (a new message, a
different order of sends) changes digests on purpose: re-record them with

    python -m tests.sim.test_trace_digests --record

and say why in the commit message. A refactoring must leave them alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pyconsensus.sim.digest import trace_digest
from pyconsensus.sim.specs import get_spec
from pyconsensus.sim.sweep import RunConfig

RECORDED = Path(__file__).with_name("trace_digests.json")

KV_ALL = RunConfig(workload="kv", check_linearizability=True, nemesis=("all",))
PLAIN = RunConfig()

# (case name, protocol, options, config, seeds)
CASES: list[tuple[str, str, dict[str, str], RunConfig, range]] = [
    *[(f"{p}-kv-all", p, {}, KV_ALL, range(3)) for p in ("raft", "zab", "paxos")],
    *[
        (f"{p}-pipelined", p, {"pipelined_writes": "true"}, KV_ALL, range(2))
        for p in ("raft", "zab", "paxos")
    ],
    ("raft-no-commit-broadcast", "raft", {"broadcast_commit": "false"}, KV_ALL, range(2)),
    *[
        (f"{p}-plain", p, {}, PLAIN, range(2))
        for p in ("raft", "zab", "paxos", "best-effort", "eager", "lazy")
    ],
    *[
        (f"{p}-plain", p, {}, PLAIN, range(1))
        for p in ("atomic-raft", "atomic-zab", "atomic-paxos")
    ],
]


def compute(name: str) -> dict[str, str]:
    for case, protocol, options, config, seeds in CASES:
        if case == name:
            spec = get_spec(protocol).with_options(options)
            return {str(seed): trace_digest(spec, seed, config) for seed in seeds}
    raise KeyError(name)


@pytest.mark.parametrize("name", [case[0] for case in CASES])
def test_same_seeds_give_the_same_trace_digests(name: str) -> None:
    recorded = json.loads(RECORDED.read_text())
    assert compute(name) == recorded[name], (
        f"{name}: the simulator's behaviour changed; if on purpose, re-record "
        "(python -m tests.sim.test_trace_digests --record) and say why"
    )


def test_a_behaviour_change_changes_the_digest() -> None:
    spec = get_spec("raft")
    assert trace_digest(spec, 0, PLAIN) != trace_digest(
        spec.with_options({"pre_vote": "false"}), 0, PLAIN
    )
    assert trace_digest(spec, 0, PLAIN) == trace_digest(spec, 0, PLAIN)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python -m tests.sim.test_trace_digests --record")
    digests = {case[0]: compute(case[0]) for case in CASES}
    RECORDED.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"recorded {sum(len(d) for d in digests.values())} digests in {RECORDED}")
