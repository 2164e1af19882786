"""Pure helpers shared by the peer benchmarks: percentiles and the result schema.

Every benchmark of the standard workload (pyconsensus's ``bench cluster`` and the
peer scripts) prints one JSON object with at least :data:`RESULT_KEYS`. Nothing
here does I/O, so it is unit-tested directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Keys every result object carries (the contract with ``pyconsensus bench cluster``).
RESULT_KEYS: tuple[str, ...] = (
    "throughput_ops_s",
    "p50_ms",
    "p99_ms",
    "p999_ms",
    "peak_rss_mb",
    "cpu_s",
    "leader_changes",
)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of already sorted values.

    Nearest rank, not interpolation: the result is always a latency that was
    really observed, and p99.9 of fewer than 1,000 samples is the maximum.
    """
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile out of range: {q}")
    rank = math.ceil(q / 100 * len(sorted_values))
    return float(sorted_values[max(rank, 1) - 1])


def scalar(value: float | Sequence[float]) -> float:
    """A per-replica figure as one number: the maximum of a list, or the number itself.

    Peer scripts report per-replica RSS and CPU as the maximum over replicas (the
    busiest replica, normally the leader) and also as a list; another producer may
    print either form.
    """
    if isinstance(value, int | float):
        return float(value)
    values = [float(v) for v in value]
    return max(values) if values else math.nan


def latency_summary(
    latencies_ms: Sequence[float], *, completed: int, duration_s: float
) -> dict[str, float]:
    """Throughput and latency percentiles of one measured window.

    ``completed`` writes were acknowledged inside the window of ``duration_s``
    seconds; ``latencies_ms`` are their latencies (in any order).
    """
    if duration_s <= 0:
        raise ValueError("duration must be positive")
    ordered = sorted(latencies_ms)
    summary = {"throughput_ops_s": completed / duration_s}
    if ordered:
        summary |= {
            "p50_ms": percentile(ordered, 50),
            "p99_ms": percentile(ordered, 99),
            "p999_ms": percentile(ordered, 99.9),
            "mean_ms": sum(ordered) / len(ordered),
            "max_ms": ordered[-1],
        }
    else:
        summary |= {k: math.nan for k in ("p50_ms", "p99_ms", "p999_ms", "mean_ms", "max_ms")}
    return summary


def missing_keys(result: Mapping[str, Any]) -> list[str]:
    """The :data:`RESULT_KEYS` absent from ``result`` or not numbers (lists of numbers allowed
    for the per-replica keys)."""
    missing = []
    for key in RESULT_KEYS:
        value = result.get(key)
        if isinstance(value, bool) or value is None:
            missing.append(key)
        elif isinstance(value, list):
            if key not in ("peak_rss_mb", "cpu_s") or not all(
                isinstance(v, int | float) for v in value
            ):
                missing.append(key)
        elif not isinstance(value, int | float):
            missing.append(key)
    return missing


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` outstanding writes spread over ``parts`` load processes (none left empty)."""
    if total < 1 or parts < 1:
        raise ValueError("need at least one write and one part")
    parts = min(parts, total)
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
