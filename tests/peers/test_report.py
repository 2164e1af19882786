"""The comparison's plot, table, docs section and result handling (no server involved)."""

from __future__ import annotations

import argparse
import itertools
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from benchmarks import compare
from benchmarks.peers import report
from benchmarks.peers.plot import linear_ticks, log_ticks, nice_step, render_svg
from benchmarks.peers.stats import RESULT_KEYS

SVG = "{http://www.w3.org/2000/svg}"


def result(
    system: str, clients: int, rate: float, p99: float, durable: bool = True
) -> dict[str, Any]:
    return {
        "system": system,
        "clients": clients,
        "throughput_ops_s": rate,
        "p50_ms": p99 / 3,
        "p99_ms": p99,
        "p999_ms": p99 * 2,
        "peak_rss_mb": 50.0,
        "cpu_s": 1.25,
        "leader_changes": 0,
        "durable": durable,
        "loadgen": {"procs": 2, "max_cpu_share": 0.3, "saturated": clients > 100},
    }


RESULTS = [
    result(system, c, rate * c**0.5, 2.0 + c / 10, durable=system != "pysyncobj-memory")
    for c in (1, 16, 64, 256)
    for system, rate in (("etcd", 500.0), ("zookeeper", 400.0), ("pysyncobj-memory", 10.0))
]


def polylines(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(f"{SVG}polyline"))


def points(line: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.attrib["points"].split())]


def test_the_plot_has_one_line_per_system_in_each_panel() -> None:
    throughput, p99 = report.plot_series(RESULTS)
    svg = render_svg(throughput, p99, dashed={"pysyncobj-memory"})
    lines = polylines(svg)
    assert sorted(line.attrib["data-system"] for line in lines) == sorted(
        [s for s in throughput for _ in range(2)]
    )
    for line in lines:
        assert len(points(line)) == 4
        dashed = "stroke-dasharray" in line.attrib
        assert dashed == (line.attrib["data-system"] == "pysyncobj-memory")
    assert "pysyncobj-memory (no fsync)" in svg


def test_the_plot_puts_larger_c_to_the_right_and_more_throughput_higher() -> None:
    throughput = {"etcd": {1: 100.0, 16: 900.0, 64: 400.0}}
    svg = render_svg(throughput, {"etcd": {1: 1.0, 16: 5.0, 64: 50.0}})
    left, right = polylines(svg)
    xs = [x for x, _ in points(left)]
    assert xs == sorted(xs)
    by_c = dict(zip([1, 16, 64], points(left), strict=True))
    assert by_c[16][1] < by_c[64][1] < by_c[1][1]  # SVG y grows downwards
    p99_ys = [y for _, y in points(right)]
    assert p99_ys == sorted(p99_ys, reverse=True)


def test_the_plot_escapes_system_names_and_skips_missing_points() -> None:
    svg = render_svg({"a<b": {1: 10.0, 4: float("nan")}}, {"a<b": {1: 1.0}})
    assert "a&lt;b" in svg
    assert [len(points(line)) for line in polylines(svg)] == [1, 1]


def test_the_plot_needs_something_to_plot() -> None:
    with pytest.raises(ValueError, match="nothing"):
        render_svg({}, {})


@given(st.floats(min_value=1e-3, max_value=1e9))
def test_linear_ticks_cover_the_top_value_with_round_steps(top: float) -> None:
    ticks = linear_ticks(top)
    step = nice_step(top)
    assert ticks[0] == 0 and ticks[-1] >= top
    assert len(ticks) <= 12
    mantissa = step / 10 ** int(f"{step:e}".split("e")[1])
    assert round(mantissa, 6) in (1, 2, 5, 10)


@example(low=99999.99999999999, factor=1.0)
@given(st.floats(min_value=1e-3, max_value=1e5), st.floats(min_value=1, max_value=1e3))
def test_log_ticks_are_decades_around_the_range(low: float, factor: float) -> None:
    high = low * factor
    ticks = log_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high and len(ticks) >= 2
    assert all(b / a == pytest.approx(10) for a, b in itertools.pairwise(ticks))


def test_the_table_has_a_row_per_run_sorted_by_c_and_flags_what_does_not_fsync() -> None:
    table = report.results_table(RESULTS)
    rows = table.splitlines()[2:]
    assert len(rows) == len(RESULTS)
    cs = [int(row.split("|")[1]) for row in rows]
    assert cs == sorted(cs)
    assert [row.split("|")[2].strip() for row in rows[:3]] == [
        "etcd",
        "zookeeper",
        "pysyncobj-memory",
    ]
    assert all(("**no**" in row) == ("pysyncobj" in row) for row in rows)
    assert sum("**saturated**" in row for row in rows) == 3


def document(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "label": "Preliminary",
        "started": "2026-11-26 08:00:00",
        "finished": "2026-11-26 08:10:00",
        "results_file": "benchmarks/results/compare-x.json",
        "machine": {
            "cores": 2,
            "cpu_model": "CPU",
            "memory_gib": 24,
            "disk": "ext4",
            "kernel": "6",
            "python": "3.11",
            "load_before": [1, 1, 1],
            "load_after": [2, 2, 2],
        },
        "config": {"clients": [1], "warmup": 1, "duration": 5, "payload": 100, "keys": 10000},
        "commands": ["python -m benchmarks.peers.etcd_peer --clients 1"],
        "results": results,
        "failures": [{"system": "zookeeper", "clients": 1, "error": "boom\nlast line"}],
        "skipped": [{"system": "pyconsensus-raft", "reason": "not built"}],
    }


def test_the_section_replaces_itself_and_keeps_the_rest_of_the_page() -> None:
    page = "# Benchmarks\n\nhand-written text\n"
    first = report.replace_section(
        page, report.render_section(document(RESULTS), "p.svg"), heading="## Peers"
    )
    assert first.startswith(page.rstrip("\n"))
    assert first.count(report.BEGIN) == 1 and "## Peers" in first
    again = report.replace_section(
        first + "\nafter\n", report.render_section(document(RESULTS[:1]), "p.svg"), heading="x"
    )
    assert again.count(report.BEGIN) == 1 and again.endswith("\nafter\n")
    assert "## Peers" in again and "hand-written text" in again
    assert len(re.findall(r"^\| \d+ \|", again, flags=re.M)) == 1


def test_the_section_lists_failures_skips_and_commands() -> None:
    section = report.render_section(document(RESULTS), "p.svg")
    assert "> **Preliminary**" in section
    assert "- zookeeper at C=1: last line" in section
    assert "- pyconsensus-raft: not built" in section
    assert "python -m benchmarks.peers.etcd_peer --clients 1" in section
    assert "![Throughput and p99 latency against C](p.svg)" in section


def test_publish_writes_the_plot_and_the_section(tmp_path: Path) -> None:
    doc, plot = tmp_path / "benchmarks.md", tmp_path / "plot.svg"
    doc.write_text("# Benchmarks\n")
    compare.publish(document(RESULTS), doc=doc, plot=plot)
    assert len(polylines(plot.read_text())) == 6
    assert "(plot.svg)" in doc.read_text()


def test_normalise_keeps_per_replica_lists_and_reports_the_busiest_replica() -> None:
    raw = {key: 2.0 for key in RESULT_KEYS} | {"peak_rss_mb": [10.0, 30.0], "cpu_s": [1, 4]}
    out = compare.normalise(raw, "pyconsensus-raft", 64)
    assert out["peak_rss_mb"] == 30.0 and out["cpu_s"] == 4.0
    assert out["peak_rss_mb_per_replica"] == [10.0, 30.0]
    assert out["system"] == "pyconsensus-raft" and out["clients"] == 64
    with pytest.raises(ValueError, match="p99_ms"):
        compare.normalise({k: v for k, v in raw.items() if k != "p99_ms"}, "x", 1)


def test_a_report_nesting_one_result_per_c_is_flattened() -> None:
    report_ = {
        "benchmark": "cluster",
        "results": [
            {"clients": 1, "writes_per_s": 10, "peak_rss_kib": {"2": 2048, "1": 1024}},
            {"clients": 64, "writes_per_s": 640, "peak_rss_kib": {"1": 4096}},
        ],
    }
    flat = compare.flatten(report_, 1)
    assert flat["throughput_ops_s"] == 10 and flat["peak_rss_mb"] == [1.0, 2.0]
    assert flat["benchmark"] == "cluster" and "results" not in flat
    assert compare.flatten(report_, 64)["throughput_ops_s"] == 640
    with pytest.raises(ValueError, match="p999_ms, cpu_s, leader_changes"):
        compare.normalise(report_, "pyconsensus-raft", 64)


def test_the_last_json_line_of_the_output_is_the_result() -> None:
    out = 'starting\n{"a": 1}\nnoise\n{"b": 2}\n\n'
    assert compare.last_json_object(out) == {"b": 2}
    with pytest.raises(ValueError, match="no JSON"):
        compare.last_json_object("table only\n")


def arguments(**overrides: Any) -> argparse.Namespace:
    values = {"duration": 5.0, "warmup": 1.0, "payload": 100, "keys": 10_000, "dir": None}
    return argparse.Namespace(**(values | overrides))


def test_pyconsensus_gets_warmup_only_if_its_command_has_it() -> None:
    with_warmup = compare.command_for("pyconsensus-zab", 16, arguments(), "--warmup W --json")
    assert with_warmup[-7:] == ["--duration", "5", "--payload", "100", "--warmup", "1", "--json"]
    assert "--protocol" in with_warmup and "zab" in with_warmup
    without = compare.command_for("pyconsensus-raft", 16, arguments(), "--json")
    assert "--warmup" not in without and "--repeats" not in without


def test_pyconsensus_gets_the_spelling_of_the_window_its_command_knows() -> None:
    seconds = compare.command_for("pyconsensus-raft", 1, arguments(), "--seconds --repeats")
    assert "--seconds" in seconds and "--duration" not in seconds
    assert seconds[seconds.index("--repeats") + 1] == "1"
    duration = compare.command_for("pyconsensus-raft", 1, arguments(), "--duration --seconds")
    assert "--duration" in duration and "--seconds" not in duration


def test_peer_commands_carry_the_whole_workload() -> None:
    argv = compare.command_for("pysyncobj-memory", 64, arguments(dir="/d"), None)
    assert argv[1:3] == ["-m", "benchmarks.peers.pysyncobj_peer"]
    joined = " ".join(argv)
    for part in ("--clients 64", "--warmup 1", "--keys 10000", "--journal memory", "--dir /d"):
        assert part in joined
    assert argv[-1] == "--json"


def test_results_documents_round_trip_through_json() -> None:
    doc = document(RESULTS)
    assert json.loads(json.dumps(doc)) == doc


def test_the_targets_are_stated_with_their_ratios_and_verdicts() -> None:
    ours = [
        result("pyconsensus-raft", 1, 700.0, 3.0) | {"p50_ms": 1.2},
        result("pyconsensus-raft", 64, 9_000.0, 30.0) | {"p50_ms": 6.0},
    ]
    peers = [
        result("etcd", 64, 4_500.0, 40.0),
        result("pysyncobj-journal", 256, 3_000.0, 150.0, durable=False) | {"p50_ms": 60.0},
        result("pysyncobj-memory", 64, 600.0, 110.0, durable=False),
    ]
    summary = report.targets_summary(ours + peers)
    assert "9,000 / 4,500 writes/s = **2.00x** (target >= 1.0x, aim 2x: met)" in summary
    assert "p99 30.0 ms against 40.0 ms (met)" in summary
    assert "pysyncobj-journal at C=256" in summary
    assert "**3.00x** the throughput (target > 1x: met) at 0.10x its p50" in summary
    assert "p50 **1.20 ms** (target <= 1.5 ms: met)" in summary
    slow = [r | {"p50_ms": 2.0} if r["clients"] == 1 else r for r in ours]
    assert "(target <= 1.5 ms: missed)" in report.targets_summary(slow + peers)
    assert report.targets_summary(peers) == ""
