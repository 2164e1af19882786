"""``pyconsensus bench codec`` and ``bench storage`` run and report what they measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyconsensus.cli import main


def test_bench_codec_reports_every_loop(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "codec", "--entries", "1", "9", "--repeats", "1", "--seconds", "0.02"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["entries"] for r in report["results"]] == [1, 9]
    for result in report["results"]:
        assert set(result["messages_per_s"]) == {"codec", "raw rows", "raw same"}
        assert all(rate > 0 for rate in result["messages_per_s"].values())
        assert result["frame_bytes"] > 100 * result["entries"]
    assert main(argv) == 0
    assert "codec/rows" in capsys.readouterr().out


def test_bench_storage_reports_adapter_and_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "storage", "--batch", "4", "--repeats", "1", "--seconds", "0.02"]
    assert main([*argv, "--no-sync", "--dir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sync"] is False
    (result,) = report["results"]
    assert result["batch"] == 4
    assert result["adapter_entries_per_s"] > 0 and result["raw_entries_per_s"] > 0
    assert main([*argv, "--dir", str(tmp_path)]) == 0
    assert "overhead" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # the databases are removed afterwards


def test_bench_memory_measures_a_leader_and_a_follower_holding_the_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "memory", "--entries", "3000", "--batch", "500", "--dir", str(tmp_path)]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_role = {r["role"]: r for r in report["results"]}
    assert set(by_role) == {"leader", "follower"}
    for result in by_role.values():
        assert result["commit_index"] >= 3000 and result["log_entries_in_memory"] >= 3000
        assert result["entry_bytes"] == 100 + 38  # value + key, KV header and session envelope
        assert result["rss_mb"] >= result["baseline_rss_mb"] > 0
    assert main([*argv, "--role", "follower"]) == 0
    assert "bytes per entry" in capsys.readouterr().out


def test_bench_cluster_reports_the_standard_keys_and_the_load_generators_cpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "cluster", "--clients", "2", "--seconds", "1", "--warmup", "0.5"]
    argv += ["--repeats", "1", "--dir", str(tmp_path), "--set", "storage_writes=inline"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (result,) = report["results"]
    assert result["clients"] == 2 and result["throughput_ops_s"] > 0
    assert result["p50_ms"] <= result["p99_ms"] <= result["p999_ms"]
    assert len(result["cpu_s_per_replica"]) == 3 and result["leader_changes"] == 0
    assert result["cpu_s"] == max(result["cpu_s_per_replica"])
    assert result["peak_rss_mb"] == max(result["peak_rss_mb_per_replica"]) > 10
    for key in ("throughput_ops_s", "p50_ms", "p99_ms", "p999_ms", "peak_rss_mb", "cpu_s"):
        assert report[key] == result[key]  # one C: the standard keys at the top level too
    assert result["loadgen"]["procs"] == 1 and result["loadgen"]["max_cpu_share"] > 0
    assert report["keys"] == 10_000 and report["settings"] == ["storage_writes=inline"]
