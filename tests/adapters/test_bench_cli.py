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
