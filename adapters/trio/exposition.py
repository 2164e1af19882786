"""Prometheus metric families of one node, built at scrape time.

Imported only when a node serves ``/metrics`` (it needs ``prometheus_client``,
the ``metrics`` extra). It reads the node through ``ObservedNode``, the few
things a scrape needs, so that the runtime and this module do not import each
other. docs/operations.md lists every family.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pyconsensus.adapters.trio.config import NodeConfig
from pyconsensus.adapters.trio.metrics import Histogram, NodeMetrics
from pyconsensus.adapters.trio.observe import Observer
from pyconsensus.core.types import Role
from pyconsensus.service.messages import StatusReply

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry


class PeerView(Protocol):
    """What a scrape reads of one peer (``runtime.PeerStatus``)."""

    @property
    def node_id(self) -> int: ...
    @property
    def connected(self) -> bool: ...
    @property
    def match_index(self) -> int | None: ...
    @property
    def queued_frames(self) -> int: ...
    @property
    def sent_frames(self) -> int: ...
    @property
    def dropped_frames(self) -> int: ...


class StatusView(Protocol):
    """What a scrape reads of a node's status (``runtime.NodeStatus``)."""

    @property
    def node_id(self) -> int: ...
    @property
    def protocol(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def term(self) -> int: ...
    @property
    def leader(self) -> int | None: ...
    @property
    def commit_index(self) -> int: ...
    @property
    def applied_index(self) -> int: ...
    @property
    def last_index(self) -> int: ...
    @property
    def peers(self) -> Sequence[PeerView]: ...
    @property
    def counters(self) -> Mapping[str, int]: ...


class ObservedNode(Protocol):
    """What ``/metrics`` and ``/health`` read of a node (``runtime.Node``)."""

    config: NodeConfig
    observer: Observer
    metrics: NodeMetrics | None
    stopping: bool
    port: int | None

    def clock(self) -> float: ...
    def status(self) -> StatusView: ...
    def queue_depths(self) -> dict[str, int]: ...
    def ask_status(self, node_id: int, timeout: float) -> Awaitable[StatusReply | None]: ...


def registry_for(node: ObservedNode) -> CollectorRegistry:
    """A Prometheus registry with ``node``'s metrics and the process's own."""
    from prometheus_client import CollectorRegistry, ProcessCollector  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node))
    ProcessCollector(registry=registry)
    return registry


class NodeCollector:
    """Builds the metric families of one node at scrape time."""

    def __init__(self, node: ObservedNode) -> None:
        self.node = node

    def collect(self) -> Iterator[Any]:
        """Every family (docs/operations.md lists them)."""
        from prometheus_client.core import (  # noqa: PLC0415
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        node = self.node
        status = node.status()
        info = GaugeMetricFamily(
            "pyconsensus_node_info", "This node", labels=["node", "protocol", "cluster"]
        )
        info.add_metric([str(status.node_id), status.protocol, node.config.cluster_id], 1)
        yield info
        role = GaugeMetricFamily("pyconsensus_role", "1 for the current role", labels=["role"])
        role.add_metric([status.role.value], 1)
        yield role
        for name, text, value in _gauges(node, status):
            yield GaugeMetricFamily(name, text, value=value)
        depth = GaugeMetricFamily("pyconsensus_queue_depth", "Waiting, by queue", labels=["queue"])
        for queue, length in node.queue_depths().items():
            depth.add_metric([queue], length)
        yield depth
        yield from _event_counters(status.counters, CounterMetricFamily)
        yield from _peer_metrics(status, GaugeMetricFamily, CounterMetricFamily)
        if node.metrics is not None:
            for name, text, histogram in _histograms(node.metrics):
                yield HistogramMetricFamily(
                    name, text, buckets=histogram.cumulative(), sum_value=histogram.sum
                )


def _gauges(node: ObservedNode, status: StatusView) -> list[tuple[str, str, float]]:
    leader = status.leader
    return [
        (
            "pyconsensus_term",
            "Raft term, ZAB epoch, or Paxos ballot round",
            _era(node, status.term),
        ),
        ("pyconsensus_leader_id", "The leader this node knows (-1: none)", _or(leader, -1)),
        ("pyconsensus_has_leader", "1 while the node knows a leader", int(leader is not None)),
        (
            "pyconsensus_leaderless_seconds",
            "How long the node has known no leader",
            node.observer.leaderless_seconds(node.clock()),
        ),
        ("pyconsensus_commit_index", "Highest index known committed", status.commit_index),
        ("pyconsensus_applied_index", "Highest index applied", status.applied_index),
        ("pyconsensus_last_index", "Last index of the log", status.last_index),
        (
            "pyconsensus_apply_lag_entries",
            "Committed entries not yet applied",
            status.commit_index - status.applied_index,
        ),
    ]


def _histograms(metrics: NodeMetrics) -> list[tuple[str, str, Histogram]]:
    return [
        ("pyconsensus_proposal_latency_seconds", "Writes served here", metrics.proposal_seconds),
        ("pyconsensus_read_latency_seconds", "Reads served here", metrics.read_seconds),
        ("pyconsensus_commit_latency_seconds", "Appended to committed", metrics.commit_seconds),
        ("pyconsensus_fsync_seconds", "Durable storage writes", metrics.fsync_seconds),
        ("pyconsensus_batch_entries", "Entries per storage write", metrics.batch_entries),
        ("pyconsensus_event_loop_lag_seconds", "How late ticks fired", metrics.loop_lag_seconds),
    ]


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _era(node: ObservedNode, term: int) -> int:
    """The term as a number that grows by one per election (Paxos: the round)."""
    return term >> 32 if node.config.protocol == "paxos" else term


NAMED_EVENTS = (
    ("pyconsensus_leader_changes", "Leaders this node saw take over", "events.leader_changed"),
    ("pyconsensus_elections_started", "Elections this node started", "events.election_started"),
    ("pyconsensus_elections_won", "Elections this node won", "events.election_won"),
)


def _event_counters(counters: Mapping[str, int], counter: Any) -> Iterator[Any]:
    events = counter("pyconsensus_events", "Operator events", labels=["event"])
    others = counter("pyconsensus_node_counter", "Every other counter", labels=["name"])
    for key, value in sorted(counters.items()):
        if key.startswith("events."):
            events.add_metric([key[len("events.") :]], value)
        elif not key.startswith("peer."):
            others.add_metric([key], value)
    yield events
    yield others
    for name, text, key in NAMED_EVENTS:
        yield counter(name, text, value=counters.get(key, 0))


def _peer_metrics(status: StatusView, gauge: Any, counter: Any) -> Iterator[Any]:
    peer = ["peer"]
    connected = gauge("pyconsensus_peer_connected", "1 while the link is up", labels=peer)
    match = gauge("pyconsensus_peer_match_index", "Index replicated there (leader)", labels=peer)
    lag = gauge("pyconsensus_peer_lag_entries", "Last index minus match index", labels=peer)
    queued = gauge("pyconsensus_peer_queued_frames", "Frames queued for the peer", labels=peer)
    sent = counter("pyconsensus_peer_sent_frames", "Frames sent to the peer", labels=peer)
    dropped = counter("pyconsensus_peer_dropped_frames", "Frames dropped", labels=peer)
    traffic = counter("pyconsensus_peer_bytes", "Protocol bytes", labels=["peer", "direction"])
    counters = status.counters
    for one in status.peers:
        label = [str(one.node_id)]
        connected.add_metric(label, int(one.connected))
        if one.match_index is not None:
            match.add_metric(label, one.match_index)
            lag.add_metric(label, max(0, status.last_index - one.match_index))
        queued.add_metric(label, one.queued_frames)
        sent.add_metric(label, one.sent_frames)
        dropped.add_metric(label, one.dropped_frames)
        for direction in ("in", "out"):
            key = f"peer.{one.node_id}.bytes_{direction}"
            traffic.add_metric([*label, direction], counters.get(key, 0))
    yield from (connected, match, lag, queued, sent, dropped, traffic)
