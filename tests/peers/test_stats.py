"""The pure parts of the peer benchmarks: percentiles, the result schema, load splitting."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.peers.stats import (
    RESULT_KEYS,
    latency_summary,
    missing_keys,
    percentile,
    scalar,
    split_evenly,
)

latencies = st.lists(
    st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=300
)
quantiles = st.floats(min_value=0.01, max_value=100)


@given(latencies, quantiles)
def test_nearest_rank_percentile_is_an_observed_value_with_q_percent_at_or_below(
    values: list[float], q: float
) -> None:
    ordered = sorted(values)
    p = percentile(ordered, q)
    assert p in ordered
    at_or_below = sum(1 for v in ordered if v <= p)
    strictly_below = sum(1 for v in ordered if v < p)
    assert at_or_below >= q / 100 * len(ordered) - 1e-9
    assert strictly_below < q / 100 * len(ordered) + 1e-9


@given(latencies, quantiles, quantiles)
def test_percentile_grows_with_q(values: list[float], q1: float, q2: float) -> None:
    ordered = sorted(values)
    low, high = sorted((q1, q2))
    assert percentile(ordered, low) <= percentile(ordered, high)


def test_p999_of_fewer_than_a_thousand_samples_is_the_maximum() -> None:
    ordered = [float(i) for i in range(999)]
    assert percentile(ordered, 99.9) == ordered[-1]
    assert percentile(ordered, 100) == ordered[-1]


@pytest.mark.parametrize("q", [0, -1, 100.5])
def test_percentile_refuses_a_quantile_out_of_range(q: float) -> None:
    with pytest.raises(ValueError, match="out of range"):
        percentile([1.0], q)


def test_percentile_refuses_no_values() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


@given(latencies, st.integers(min_value=0, max_value=10**6), st.floats(0.1, 100))
def test_latency_summary_agrees_with_percentile(
    values: list[float], completed: int, duration: float
) -> None:
    summary = latency_summary(values, completed=completed, duration_s=duration)
    ordered = sorted(values)
    assert summary["throughput_ops_s"] == completed / duration
    assert summary["p50_ms"] == percentile(ordered, 50)
    assert summary["p99_ms"] == percentile(ordered, 99)
    assert summary["p999_ms"] == percentile(ordered, 99.9)
    assert summary["p50_ms"] <= summary["p99_ms"] <= summary["p999_ms"] <= summary["max_ms"]


def test_latency_summary_of_no_acknowledged_write_has_no_percentiles() -> None:
    summary = latency_summary([], completed=0, duration_s=5)
    assert summary["throughput_ops_s"] == 0
    assert math.isnan(summary["p99_ms"])


def test_latency_summary_refuses_an_empty_window() -> None:
    with pytest.raises(ValueError, match="positive"):
        latency_summary([1.0], completed=1, duration_s=0)


def complete_result() -> dict[str, object]:
    result: dict[str, object] = {key: 1.5 for key in RESULT_KEYS}
    result["leader_changes"] = 0
    return result


def test_a_complete_result_misses_nothing() -> None:
    assert missing_keys(complete_result()) == []


@pytest.mark.parametrize("key", RESULT_KEYS)
def test_each_absent_key_is_reported(key: str) -> None:
    result = complete_result()
    del result[key]
    assert missing_keys(result) == [key]


def test_per_replica_lists_are_accepted_only_for_rss_and_cpu() -> None:
    result = complete_result() | {"peak_rss_mb": [40.0, 41.5, 39], "cpu_s": [1, 2, 3]}
    assert missing_keys(result) == []
    assert missing_keys(result | {"p99_ms": [1.0]}) == ["p99_ms"]
    assert missing_keys(result | {"cpu_s": ["a"]}) == ["cpu_s"]


def test_booleans_and_strings_are_not_figures() -> None:
    result = complete_result() | {"leader_changes": False, "p50_ms": "1"}
    assert missing_keys(result) == ["p50_ms", "leader_changes"]


def test_scalar_takes_the_busiest_replica() -> None:
    assert scalar([3.0, 7.5, 1.0]) == 7.5
    assert scalar(4) == 4.0
    assert math.isnan(scalar([]))


@given(st.integers(min_value=1, max_value=1000), st.integers(min_value=1, max_value=16))
def test_split_evenly_shares_every_write_and_leaves_no_process_idle(total: int, parts: int) -> None:
    shares = split_evenly(total, parts)
    assert sum(shares) == total
    assert len(shares) == min(total, parts)
    assert min(shares) >= 1
    assert max(shares) - min(shares) <= 1


def test_split_evenly_refuses_nothing_to_split() -> None:
    with pytest.raises(ValueError, match="at least one"):
        split_evenly(0, 2)
