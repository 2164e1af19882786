"""Replays reproduce a run exactly; shrinking keeps the failure with fewer faults."""

from __future__ import annotations

import json

import attrs
import pytest

from pyconsensus.core.errors import ConfigError
from pyconsensus.sim import RunConfig, run_seed
from pyconsensus.sim.checkers.raft import SPEC, make_spec
from pyconsensus.sim.replay import (
    Replay,
    config_from_json,
    config_to_json,
    dumps,
    loads,
    run_replay,
)
from pyconsensus.sim.shrink import shrink
from tests.sim.broken import DoubleVoter

KV_ALL = RunConfig(workload="kv", check_linearizability=True, nemesis=("all",))


def test_run_settings_survive_json() -> None:
    config = attrs.evolve(KV_ALL, heal_every_ms=1_000, heal_for_ms=200, keys=2)
    assert config_from_json(json.loads(json.dumps(config_to_json(config)))) == config


def test_a_replay_file_reproduces_the_run_exactly() -> None:
    original = run_seed(SPEC, 12, KV_ALL)
    replay = Replay("raft", 12, KV_ALL, original.schedule, violation=original.violation)
    again = run_replay(loads(dumps(replay)))
    assert again.stats == original.stats
    assert again.history == original.history
    assert again.end_ms == original.end_ms


def test_a_replay_carries_protocol_options() -> None:
    config = attrs.evolve(KV_ALL, duration_ms=1_000)
    replay = Replay("raft", 3, config, config.schedule(3), {"pre_vote": "false"})
    loaded = loads(dumps(replay))
    assert loaded.options == {"pre_vote": "false"}
    expected = run_seed(SPEC.with_options({"pre_vote": "false"}), 3, config)
    assert run_replay(loaded).stats == expected.stats


def test_a_tampered_replay_is_refused_with_a_reason() -> None:
    text = dumps(Replay("raft", 1, RunConfig(), ()))
    with pytest.raises(ConfigError, match="not a pyconsensus replay"):
        loads("{}")
    with pytest.raises(ConfigError, match="unknown run settings"):
        loads(text.replace('"nodes"', '"knots"'))
    with pytest.raises(ConfigError, match="version"):
        loads(text.replace('"version": 1', '"version": 99'))
    with pytest.raises(ConfigError, match="not a replay"):
        loads("not json")


def test_tracing_a_run_does_not_change_it() -> None:
    plain = run_seed(SPEC, 4, KV_ALL)
    traced = run_seed(SPEC, 4, KV_ALL, trace=True)
    assert traced.stats == plain.stats
    assert traced.trace is not None and traced.trace.messages


def test_shrinking_keeps_the_violation_with_fewer_faults() -> None:
    spec = make_spec(node_class=DoubleVoter)
    config = attrs.evolve(KV_ALL, nemesis=("elections", "partitions", "crashes"))
    failing = next(
        result
        for result in (run_seed(spec, seed, config) for seed in range(20))
        if result.violation is not None
    )
    assert failing.violation is not None
    shrunk = shrink(spec, failing.seed, config, failing.schedule, failing.violation, max_runs=60)
    assert shrunk.runs <= 60
    assert shrunk.faults_after < shrunk.faults_before
    assert shrunk.result.violation is not None
    assert shrunk.result.violation.property == failing.violation.property
    # The shrunk schedule is a replay of its own.
    replay = Replay("raft", failing.seed, shrunk.config, shrunk.schedule)
    assert run_replay(loads(dumps(replay)), spec).violation == shrunk.result.violation


def test_shrinking_stops_when_told_to() -> None:
    spec = make_spec(node_class=DoubleVoter)
    config = attrs.evolve(KV_ALL, nemesis=("elections",))
    failing = run_seed(spec, 0, config)
    assert failing.violation is not None
    shrunk = shrink(spec, 0, config, failing.schedule, failing.violation, should_stop=lambda: True)
    assert shrunk.schedule == failing.schedule  # nothing tried: the original stands
    assert shrunk.result.violation == failing.violation
