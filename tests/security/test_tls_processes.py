"""TLS with real node processes: the demo workload, and SIGHUP reloading the files."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from pyconsensus.adapters.trio import Forbidden, Role
from pyconsensus.adapters.trio.localcluster import open_local_cluster
from pyconsensus.rsm import kv


def test_a_three_node_tls_cluster_runs_the_demo_workload(tmp_path: Path) -> None:
    options = f"--tls --duration 2.5 --clients 4 --timeout 240 --dir {tmp_path}".split()
    command = [sys.executable, "-m", "pyconsensus", "demo", *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "mutual TLS" in out and "SIGKILL leader node" in out and "RESULT: OK" in out
    assert "[tls]" in (tmp_path / "cluster.toml").read_text()
    assert (tmp_path / "certs" / "client-writer.pem").exists()


async def test_sighup_reloads_a_node_s_tls_files(tmp_path: Path) -> None:
    async with (
        open_local_cluster(tmp_path, tls=True, log_level="info") as cluster,
        cluster.client() as admin,
    ):
        await cluster.wait_until_serving(admin)
        await cluster.wait_for_leader(admin)
        cluster.signal(1, signal.SIGHUP)
        log = cluster.log_path(1)
        with trio.fail_after(60):
            while "SIGHUP: TLS files reloaded" not in log.read_text():
                await trio.sleep(0.05)
        async with cluster.client(tls=cluster.client_tls("viewer", Role.READ)) as viewer:
            with pytest.raises(Forbidden):
                await viewer.propose(kv.put(b"k", b"v"))
        await admin.propose(kv.put(b"k", b"v"))  # the reloaded node still serves
