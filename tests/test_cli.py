"""The pyconsensus command."""

from __future__ import annotations

import argparse
import json

import pytest

from pyconsensus import __version__
from pyconsensus.cli import build_parser, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"pyconsensus {__version__}"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "sim" in out and "bench" in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_sim_sweep_reports_what_it_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--seeds", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "seeds           3 (0..2)" in out
    assert "Election Safety" in out and "violations      0" in out


def test_sim_refuses_an_unknown_fault_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--faults", "meteors", "--seeds", "1"]) == 2
    assert "unknown fault kinds" in capsys.readouterr().err


def test_bench_core_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "core", "--entries", "2000", "--repeats", "1", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["protocol"] == "raft"
    assert figures["entries_per_s"] > 0


@pytest.mark.parametrize("protocol", ["eager", "lazy", "best-effort", "atomic-raft"])
def test_sim_runs_the_broadcast_primitives(
    protocol: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "--protocol", protocol, "--seeds", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"protocol        {protocol}" in out and "violations      0" in out


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _all_parsers(sub)
    return found


def test_every_option_with_a_default_shows_it_in_its_help() -> None:
    missing = []
    for parser in _all_parsers(build_parser()):
        text = " ".join(parser.format_help().split())  # undo the line wrapping
        for action in parser._actions:
            hidden = action.help == argparse.SUPPRESS
            if not action.option_strings or hidden:
                continue
            if action.default in (None, False, argparse.SUPPRESS, []):
                continue
            line = f"{parser.prog} {action.option_strings[-1]}"
            if f"default: {action.default}" not in text and "default" not in (action.help or ""):
                missing.append(line)
    assert missing == []
