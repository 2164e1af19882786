"""Metrics of a running node: cheap to record, read by Prometheus on a scrape.

The driver records into plain Python objects (``Histogram``: a bucket list
and a sum) from the event loop - no locks, no ``prometheus_client`` on the hot
path. Only a scrape of ``/metrics`` builds Prometheus metric families
(``exposition.py``), from these histograms and from what the node already
keeps (its status, its and its core's counters, its peer links).
``prometheus_client`` is needed for the endpoint only: the ``metrics`` extra
(``pip install 'pyconsensus-lib[metrics]'``). docs/operations.md lists every
metric.
"""

from __future__ import annotations

import importlib.util
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence

from pyconsensus.core.errors import ConfigError, NotLeader
from pyconsensus.core.ready import Ready
from pyconsensus.rsm.replicated import Failed, Outcome

METRICS_EXTRA = "pip install 'pyconsensus-lib[metrics]'"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
APPENDS_TRACKED = 10_000
"""Writes whose commit is awaited for the commit latency, at most (older are forgotten)."""


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
        """A client write handed to this node's core until its answer."""
        self.read_seconds = Histogram(LATENCY_BUCKETS)
        """A client read handed to this node's core until its answer."""
        self.proposed: dict[int, float] = {}
        """When each unanswered write went into the core, by request id."""
        self.queried: dict[int, float] = {}
        """When each unanswered read went into the core, by request id."""
        self.commit_seconds = Histogram(LATENCY_BUCKETS)
        """A batch's entries handed to storage until this node applies them committed."""
        self.fsync_seconds = Histogram(LATENCY_BUCKETS)
        """One durable storage write."""
        self.batch_entries = Histogram(SIZE_BUCKETS)
        """Entries per storage write (group commit)."""
        self.loop_lag_seconds = Histogram(LAG_BUCKETS)
        """How late each tick fired: the event loop's lag."""
        self._appended: deque[tuple[int, float]] = deque(maxlen=APPENDS_TRACKED)

    def answered(self, outcomes: Sequence[Outcome]) -> None:
        """Observe the latency of each answered request the driver stamped in
        ``proposed``/``queried`` when it handed it to the core - unless the
        core answered ``NotLeader`` (the request goes on to the leader, which
        times it there). Once per request: dictionaries and locals only."""
        now = self.clock()
        proposed = self.proposed
        queried = self.queried
        for outcome in outcomes:
            rid = outcome.request_id
            start = proposed.pop(rid, None)
            histogram = self.proposal_seconds
            if start is None:
                start = queried.pop(rid, None)
                histogram = self.read_seconds
                if start is None:
                    continue
            if outcome.__class__ is Failed and isinstance(outcome.error, NotLeader):
                continue
            histogram.counts[bisect_left(histogram.bounds, now - start)] += 1
            histogram.sum += now - start

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
