"""``pyconsensus sim``: nemeses, linearizability, failures written down, replays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyconsensus.cli import main
from pyconsensus.sim.specs import SPECS


def summary_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("wall time")]


def test_a_linearizability_sweep_reports_what_it_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["sim", "--seeds", "3", "--nemesis", "partitions,crashes,loss"]
    assert main([*argv, "--check", "linearizability", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "linearizable    3 histories" in out
    assert "Linearizability" in out and "violations      0" in out
    assert "unavailable     longest" in out


def test_parallel_jobs_give_the_same_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sim", "--seeds", "4", "--nemesis", "all", "--check", "linearizability", "--quiet"]
    assert main(argv) == 0
    alone = summary_lines(capsys.readouterr().out)
    assert main([*argv, "--jobs", "2"]) == 0
    assert summary_lines(capsys.readouterr().out) == alone


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--nemesis", "meteors"], "unknown nemesis"),
        (["--option", "pre_vote"], "KEY=VALUE"),
        (["--option", "warp=9"], "unknown option"),
        (["--delay", "fast"], "MIN:MAX"),
        (["--replay", "/nonexistent/replay.json"], "No such file"),
        (["--nemesis", "partitions", "--heal-every", "100", "--heal-for", "100"], "healing"),
        (["--nodes", "0"], "at least one node, got nodes=0"),
        (["--seeds", "0"], "--seeds must be at least 1, got 0"),
    ],
)
def test_bad_options_are_refused_with_a_reason(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "--seeds", "1", *argv]) == 2
    assert complaint in capsys.readouterr().err


def test_a_custom_workload_is_for_the_python_api_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sim", "--seeds", "1", "--workload", "custom"])
    assert exited.value.code == 2
    assert "invalid choice: 'custom'" in capsys.readouterr().err


def test_protocol_options_reach_the_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sim", "--seeds", "2", "--quiet", "--option", "pre_vote=false"]
    assert main([*argv, "--option", "election_ticks=4", "--check", "linearizability"]) == 0
    assert "violations      0" in capsys.readouterr().out


def test_html_draws_the_first_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    picture = tmp_path / "run.html"
    assert (
        main(["sim", "--seeds", "1", "--quiet", "--duration", "800", "--html", str(picture)]) == 0
    )
    assert picture.read_text().startswith("<!DOCTYPE html>")
    assert "node 3" in picture.read_text()


def test_a_failure_is_shrunk_written_down_and_replayed_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SPECS, "leaseless-raft", "tests.sim.leaseless_raft")
    failures = tmp_path / "failures"
    argv = [
        "sim",
        "--protocol",
        "leaseless-raft",
        "--seeds",
        "6",
        "--nemesis",
        "all",
        "--clients",
        "5",
        "--keys",
        "2",
        "--check",
        "linearizability",
        "--quiet",
        "--stop-on-failure",
        "--shrink-seconds",
        "5",
        "--failures-dir",
        str(failures),
    ]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "seed 4 FAILED: Linearizability" in out
    assert "cannot place next" in out
    replay = failures / "leaseless-raft-seed4.replay.json"
    assert f"pyconsensus sim --replay {replay}" in out
    assert (failures / "leaseless-raft-seed4.html").exists()

    picture = tmp_path / "again.html"
    assert main(["sim", "--replay", str(replay), "--html", str(picture)]) == 1
    again = capsys.readouterr().out
    assert "reproduced exactly" in again
    assert "violation: Linearizability" in picture.read_text()


def test_bench_lin_times_the_checker(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "lin", "--operations", "600", "--keys", "2", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["operations"] >= 600
    assert figures["valid"] is True
    assert figures["check_s"] >= 0 and figures["explored"] >= figures["ok"]
