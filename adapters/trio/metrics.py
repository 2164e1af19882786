"""Metrics of a running node: cheap to record, read by Prometheus on a scrape.

The driver records into plain Python objects (``Histogram``: a bucket list
and a sum) from the event loop - no locks, no ``prometheus_client`` on the hot
path. Only a scrape of ``/metrics`` builds Prometheus metric families, from
those histograms and from what the node already keeps (its status, its and
its core's counters, its peer links). ``prometheus_client`` is needed for the
endpoint only: the ``metrics`` extra (``pip install 'pyconsensus-lib[metrics]'``).
docs/operations.md lists every metric.
"""

from __future__ import annotations

import importlib.util
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.ready import Ready
from pyconsensus.rsm.replicated import Outcome

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

    from pyconsensus.adapters.trio.runtime import Node, NodeStatus

METRICS_EXTRA = "pip install 'pyconsensus-lib[metrics]'"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
APPENDS_TRACKED = 10_000
"""Writes whose commit is awaited for the commit latency, at most (older are forgotten)."""

Done = Callable[[Outcome | None], None]


def require_prometheus() -> None:
    """``ConfigError`` naming the extra to install if ``prometheus_client`` is missing."""
    if importlib.util.find_spec("prometheus_client") is None:
        raise ConfigError(
            f"metrics are configured but prometheus_client is missing: {METRICS_EXTRA}"
        )


class Histogram:
    """Observations counted in buckets (``value <= bound``) plus their sum.

    Written by one thread at a time (the event loop, or the storage writer
    while the loop waits for it); a scrape reads whatever is there.
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count)`` pairs as Prometheus wants them, ``+Inf`` last."""
        total = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
        return buckets


class NodeMetrics:
    """The histograms the driver records into (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.proposal_seconds = Histogram(LATENCY_BUCKETS)
        """Admission to answer of a write served by this node."""
        self.read_seconds = Histogram(LATENCY_BUCKETS)
        """Admission to answer of a read served by this node."""
        self.commit_seconds = Histogram(LATENCY_BUCKETS)
        """A batch's entries handed to storage until this node applies them committed."""
        self.fsync_seconds = Histogram(LATENCY_BUCKETS)
        """One durable storage write."""
        self.batch_entries = Histogram(SIZE_BUCKETS)
        """Entries per storage write (group commit)."""
        self.loop_lag_seconds = Histogram(LAG_BUCKETS)
        """How late each tick fired: the event loop's lag."""
        self._appended: deque[tuple[int, float]] = deque(maxlen=APPENDS_TRACKED)

    def timed(self, done: Done, write: bool) -> Done:
        """``done``, observing the time until it is called."""
        histogram = self.proposal_seconds if write else self.read_seconds
        clock = self.clock
        start = clock()

        def finished(outcome: Outcome | None) -> None:
            histogram.observe(clock() - start)
            done(outcome)

        return finished

    def batch(self, ready: Ready) -> None:
        """Batch size and commit latency from one ``Ready``."""
        write = ready.write
        committed = ready.committed
        if (write is None or not write.entries) and not committed:
            return
        now = self.clock()
        if write is not None and write.entries:
            self.batch_entries.observe(len(write.entries))
            self._appended.append((write.entries[-1].index, now))
        if committed:
            last = committed[-1].index
            appended = self._appended
            while appended and appended[0][0] <= last:
                self.commit_seconds.observe(now - appended.popleft()[1])


def registry_for(node: Node) -> CollectorRegistry:
    """A Prometheus registry with ``node``'s metrics and the process's own."""
    from prometheus_client import CollectorRegistry, ProcessCollector  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node))
    ProcessCollector(registry=registry)
    return registry


class NodeCollector:
    """Builds the metric families of one node at scrape time."""

    def __init__(self, node: Node) -> None:
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


def _gauges(node: Node, status: NodeStatus) -> list[tuple[str, str, float]]:
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


def _era(node: Node, term: int) -> int:
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


def _peer_metrics(status: NodeStatus, gauge: Any, counter: Any) -> Iterator[Any]:
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
