"""``bench storage`` and ``bench cluster`` print one progress line per row on a
terminal (stderr), and nothing with ``--json`` or when stderr is not a terminal."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from pyconsensus.adapters.trio import bench as cluster_bench
from pyconsensus.cli import main
from pyconsensus.cli.bench.progress import Progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_speaks_only_on_a_terminal_and_not_when_quiet() -> None:
    for stream, quiet, speaks in [
        (Terminal(), False, True),
        (Terminal(), True, False),
        (io.StringIO(), False, False),
    ]:
        progress = Progress("bench x", 2, quiet=quiet, stream=stream)
        progress.start("row a")
        progress.finish("3 things/s")
        lines = stream.getvalue().splitlines()
        if speaks:
            assert lines[0] == "bench x: [1/2] row a ..."
            assert lines[1].startswith("bench x: [1/2] row a: 3 things/s (")
        else:
            assert lines == []


def test_bench_storage_prints_a_line_per_batch_on_a_terminal_and_none_with_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "storage", "--batch", "1", "4", "--repeats", "1", "--seconds", "0.01"]
    argv += ["--no-sync", "--dir", str(tmp_path)]
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(argv) == 0
    lines = terminal.getvalue().splitlines()
    assert [line.split(":")[1].strip() for line in lines[::2]] == [
        "[1/2] batch 1 ...",
        "[2/2] batch 4 ...",
    ]
    assert "entries/s (raw LMDB" in lines[3]
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    assert main([*argv, "--json"]) == 0
    assert quiet.getvalue() == ""
    capsys.readouterr()


def test_bench_cluster_hands_its_runs_a_progress_that_prints_each_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fake_bench(**kwargs: Any) -> list[cluster_bench.ClusterResult]:
        progress = kwargs["progress"]
        for count in kwargs["clients"]:
            for repeat in range(kwargs["repeats"]):
                progress.start(f"{count} clients, run {repeat + 1}/{kwargs['repeats']}")
                progress.finish("100 writes/s, p99 1.0 ms")
        return []

    monkeypatch.setattr(cluster_bench, "bench_cluster", fake_bench)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["bench", "cluster", "--clients", "1", "8", "--repeats", "2"]) == 0
    finished = [line for line in terminal.getvalue().splitlines() if "writes/s" in line]
    assert [line.split(":")[1].strip() for line in finished] == [
        "[1/4] 1 clients, run 1/2",
        "[2/4] 1 clients, run 2/2",
        "[3/4] 8 clients, run 1/2",
        "[4/4] 8 clients, run 2/2",
    ]
    capsys.readouterr()
