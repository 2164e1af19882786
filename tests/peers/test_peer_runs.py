"""Each peer script end to end: installs what it needs, runs its cluster for a couple of
seconds and prints a complete result. Slow (apt-get, JVM start-up), so only with
``PYCONSENSUS_PEER_TESTS=1``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.peers.stats import missing_keys

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("PYCONSENSUS_PEER_TESTS") != "1",
    reason="set PYCONSENSUS_PEER_TESTS=1 to run the peer servers (installs them if missing)",
)


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("benchmarks.peers.etcd_peer", []),
        ("benchmarks.peers.zookeeper_peer", []),
        ("benchmarks.peers.pysyncobj_peer", ["--journal", "file"]),
    ],
)
def test_peer_script_prints_every_key_of_the_standard_workload(
    module: str, extra: list[str], tmp_path: Path
) -> None:
    argv = [sys.executable, "-m", module, "--clients", "4", "--warmup", "0.5", "--duration", "2"]
    done = subprocess.run(
        [*argv, "--dir", str(tmp_path), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert missing_keys(result) == []
    assert result["clients"] == 4
    assert result["throughput_ops_s"] > 0 and result["errors"] == 0
    assert result["leader_changes"] == 0
    assert len(result["cpu_s_per_replica"]) == len(result["peak_rss_mb_per_replica"]) == 3
    assert list(tmp_path.iterdir()) == []  # the data directory was removed
