"""The ``pyconsensus demo`` and ``pyconsensus node`` commands, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_a_cluster_through_a_leader_crash_and_verifies_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyconsensus",
            "demo",
            "--duration",
            "2.5",
            "--clients",
            "4",
            "--dir",
            str(tmp_path),
            "--timeout",
            "240",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "SIGKILL leader node" in out and "elected leader" in out
    assert "caught up" in out
    assert "RESULT: OK" in out
    for line in ("writes acknowledged", "throughput", "latency", "time without a leader"):
        assert line in out
    assert (tmp_path / "cluster.toml").exists()  # a directory given is kept, logs and all
    assert (tmp_path / "node-1.log").exists()


def run_node(config: Path, node_id: int) -> subprocess.CompletedProcess[str]:
    """``pyconsensus node`` with a cluster file, to completion (it should refuse)."""
    command = ["node", "--config", str(config), "--id", str(node_id)]
    return subprocess.run(
        [sys.executable, "-m", "pyconsensus", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_node_refuses_a_bad_cluster_file_with_a_reason(tmp_path: Path) -> None:
    config = tmp_path / "cluster.toml"
    config.write_text('cluster_id = "x"\n[members]\n1 = "127.0.0.1:1"\n')
    done = run_node(config, 2)
    assert done.returncode == 2
    assert "node 2 is not among the members" in done.stderr


def test_node_refuses_a_state_machine_it_cannot_import(tmp_path: Path) -> None:
    config = tmp_path / "cluster.toml"
    config.write_text(
        'cluster_id = "x"\nstate_machine = "nowhere:Nothing"\n[members]\n1 = "127.0.0.1:1"\n'
    )
    done = run_node(config, 1)
    assert done.returncode == 2 and "nowhere" in done.stderr
