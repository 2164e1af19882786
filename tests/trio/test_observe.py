"""Operator events: what the driver reads from statuses and batches, as log
records with fields and as counters (docs/operations.md)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import pytest

from pyconsensus.adapters.trio.config import ObserveConfig, parse_config, parse_observe
from pyconsensus.adapters.trio.events import JsonFormatter, emit, format_term
from pyconsensus.adapters.trio.observe import Observer
from pyconsensus.core.errors import ConfigError
from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.snapshots import SnapshotMeta, checksum
from pyconsensus.core.types import Role, Status
from pyconsensus.paxos.ballot import Ballot


class Records(logging.Handler):
    """Collects the records of one logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self) -> list[str]:
        return [getattr(r, "event", "?") for r in self.records]

    def fields(self, event: str) -> dict[str, Any]:
        found = [r for r in self.records if getattr(r, "event", None) == event]
        assert found, f"no {event} in {self.events()}"
        fields: dict[str, Any] = found[-1].fields  # type: ignore[attr-defined]
        return fields


def observer(
    protocol: str = "raft", core_counters: dict[str, int] | None = None, **config: Any
) -> tuple[Observer, Records, Counter[str]]:
    logger = logging.getLogger(f"test.observe.{id(config)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    records = Records()
    logger.addHandler(records)
    counters: Counter[str] = Counter()
    watcher = Observer(
        1,
        protocol,
        ObserveConfig(**config),
        counters,
        core_counters if core_counters is not None else {},
        logger=logger,
    )
    return watcher, records, counters


def status(role: Role, term: int, leader: int | None, commit: int = 0) -> Status:
    return Status(1, role, term, leader, commit, commit, commit)


def test_an_election_won_is_reported_as_started_term_changed_won_and_new_leader() -> None:
    core: dict[str, int] = {}
    watcher, records, counters = observer(core_counters=core)
    watcher.watch(status(Role.FOLLOWER, 1, 2), 0.0)
    core["elections.started"] = 1
    watcher.watch(status(Role.CANDIDATE, 2, None), 1.0)
    watcher.watch(status(Role.LEADER, 2, 1), 1.1)
    assert records.events() == [
        "election_started",
        "term_changed",
        "leader_lost",
        "election_won",
        "leader_changed",
    ]
    assert records.fields("term_changed") == {"node": 1, "term": 2, "previous": 1}
    assert records.fields("leader_changed")["leader"] == 1
    assert counters["events.election_started"] == counters["events.election_won"] == 1


def test_a_whole_election_inside_one_tick_still_shows_as_started_and_won() -> None:
    watcher, records, _ = observer("paxos")
    watcher.watch(status(Role.FOLLOWER, Ballot(1, 2).packed, 2), 0.0)
    watcher.watch(status(Role.LEADER, Ballot(2, 1).packed, 1), 0.02)
    assert records.events()[:2] == ["election_started", "term_changed"]
    assert "election_won" in records.events()


def test_paxos_ballots_read_as_round_dot_node() -> None:
    assert format_term("paxos", Ballot(7, 3).packed) == "7.3"
    assert format_term("raft", 7) == 7
    watcher, records, _ = observer("paxos")
    watcher.watch(status(Role.FOLLOWER, Ballot(1, 2).packed, 2), 0.0)
    watcher.watch(status(Role.FOLLOWER, Ballot(4, 3).packed, 3), 1.0)
    assert records.fields("term_changed") == {"node": 1, "ballot": "4.3", "previous": "1.2"}
    assert "ballot 1.2 -> 4.3" in records.records[0].getMessage()


def test_no_leader_is_reported_after_the_threshold_then_at_a_bounded_rate() -> None:
    watcher, records, counters = observer(no_leader_after_s=2.0, no_leader_every_s=10.0)
    for tick in range(0, 2500):  # 25 s of ticks without a leader
        watcher.watch(status(Role.CANDIDATE, 3, None), tick * 0.01)
    reports = [r for r in records.records if getattr(r, "event", None) == "no_leader"]
    assert [r.fields["seconds"] for r in reports] == [2.0, 12.0, 22.0]  # type: ignore[attr-defined]
    assert all(r.levelno == logging.WARNING for r in reports)
    assert counters["events.no_leader"] == 3
    assert watcher.leaderless_seconds(25.0) == pytest.approx(25.0)
    watcher.watch(status(Role.FOLLOWER, 4, 2), 25.0)
    assert records.fields("leader_changed")["leaderless_s"] == pytest.approx(25.0)
    assert watcher.leaderless_seconds(26.0) == 0.0


def test_a_leader_stepping_down_is_reported() -> None:
    watcher, records, _ = observer()
    watcher.watch(status(Role.LEADER, 3, 1), 0.0)
    watcher.watch(status(Role.FOLLOWER, 3, None), 1.0)
    assert records.events() == ["stepped_down", "leader_lost"]


def test_membership_changes_and_snapshots_are_read_from_the_batch() -> None:
    watcher, records, counters = observer()
    text = "voters=1,2,3,4;outgoing=;learners=;learners_next=;auto_leave=0"
    watcher.batch(Ready(write=Write(metadata={"raft.membership": text, "raft.term": 3})))
    assert records.fields("membership_changed") == {
        "node": 1,
        "membership": text,
        "key": "raft.membership",
    }
    watcher.batch(Ready(write=Write(snapshot=SnapshotMeta(40, 3, None, 10, checksum(b"x" * 10)))))
    assert records.fields("snapshot_taken") == {
        "node": 1,
        "index": 40,
        "snapshot_term": 3,
        "bytes": 10,
    }
    installed = SnapshotMeta(90, 4, None, 5, checksum(b"y" * 5))
    watcher.batch(Ready(write=Write(snapshot=installed), restore=installed))
    assert records.events()[-1] == "snapshot_installed"
    assert counters["events.snapshot_taken"] == counters["events.snapshot_installed"] == 1


def test_slow_fsyncs_are_all_counted_and_logged_at_most_once_a_second() -> None:
    watcher, records, counters = observer(slow_fsync_s=0.05)
    watcher.stored(0.01, 5, 0.0)  # fast: nothing
    for i in range(10):
        watcher.stored(0.2 + i / 100, 5, 1.0 + i / 100)
    watcher.stored(0.3, 7, 2.5)
    assert counters["events.slow_fsync"] == 11
    lines = [r for r in records.records if getattr(r, "event", None) == "slow_fsync"]
    assert len(lines) == 2
    assert lines[1].fields["writes"] == 10  # type: ignore[attr-defined]  # 9 held back + this one
    assert lines[1].fields["seconds"] == 0.3  # type: ignore[attr-defined]


def test_json_lines_carry_the_event_and_its_fields() -> None:
    logger = logging.getLogger("test.observe.json")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    records = Records()
    logger.addHandler(records)
    emit(logger, Counter(), "peer_connected", "connected to node 2", peer=2, address="a:1")
    emit(logger, None, "quiet", "not counted")
    logger.warning("a plain line")
    lines = [JsonFormatter(node_id=1).format(r) for r in records.records]
    first = json.loads(lines[0])
    assert first["event"] == "peer_connected" and first["peer"] == 2 and first["node"] == 1
    assert first["message"] == "connected to node 2" and first["ts"].endswith("Z")
    plain = json.loads(lines[2])
    assert "event" not in plain and plain["level"] == "WARNING"
    assert all("\n" not in line for line in lines)


def test_the_observe_table_parses_addresses_and_per_node_endpoints() -> None:
    table = {"metrics": {"1": 9101, "2": "10.0.0.2:9101"}, "slow_fsync_ms": 50}
    mine = parse_observe(table, 1)
    assert (mine.metrics.host, mine.metrics.port) == ("127.0.0.1", 9101)  # type: ignore[union-attr]
    assert str(parse_observe(table, 2).metrics) == "10.0.0.2:9101"
    assert parse_observe(table, 3).metrics is None
    assert mine.slow_fsync_s == 0.05
    assert parse_observe({"metrics": "127.0.0.1:0"}, 1).metrics.port == 0  # type: ignore[union-attr]
    document = {"cluster_id": "c", "members": {"1": "127.0.0.1:7101"}, "observe": {}}
    assert parse_config(document, 1).observe == ObserveConfig()


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"log_format": "xml"}, "log_format must be one of text, json"),
        ({"colour": 1}, "unknown [observe] keys: colour"),
        ({"metrics": True}, "metrics must be an address or a port"),
        ({"slow_fsync_ms": -1}, "slow_fsync_s must be a positive number"),
    ],
)
def test_bad_observe_settings_are_one_line_config_errors(
    table: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_observe(table, 1)
