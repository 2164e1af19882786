"""CPU and memory figures of processes through psutil (the benchmarks' source,
portable to macOS), checked against what this process and a child really do."""

from __future__ import annotations

import os
import subprocess
import sys

from pyconsensus.adapters import procstats


def test_this_process_has_cpu_time_and_a_peak_at_least_its_resident_set() -> None:
    sum(i * i for i in range(200_000))  # burn a little CPU
    assert procstats.cpu_seconds(os.getpid()) > 0
    rss = procstats.rss_kib()
    assert 1024 < rss < 10 << 20  # between 1 MiB and 10 GiB
    assert procstats.peak_rss_kib() >= rss * 0.9  # sampled at different moments
    assert 0 <= procstats.file_rss_kib() <= rss


def test_a_child_is_measured_by_pid_and_a_gone_one_reads_zero() -> None:
    code = "import sys; print('up', flush=True); sys.stdin.read()"
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    with child.stdin, child.stdout:
        assert child.stdout.readline() == "up\n"  # Python is running in it
        assert procstats.peak_rss_kib(child.pid) > 1024
        assert procstats.cpu_seconds(child.pid) >= 0
    child.wait(timeout=30)
    assert procstats.cpu_seconds(child.pid) == 0.0
    assert procstats.rss_kib(child.pid) == 0
