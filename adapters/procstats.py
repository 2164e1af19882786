"""CPU time and memory of processes, for the benchmarks, on Linux and macOS.

psutil (the ``bench`` and ``dev`` extras) reads CPU time and resident memory
portably. The peak resident set of *another* process has no portable source:
Linux keeps it (``VmHWM`` in ``/proc``), elsewhere the current RSS stands in,
and ``peak_is_exact()`` says which one a figure is. A process's own peak
comes from ``getrusage`` everywhere.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import psutil

KIB = 1024


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of process ``pid`` so far (with ``children``:
    also those of the children it waited for); 0.0 if it is gone."""
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0
    total = float(times.user + times.system)
    if children:
        total += float(times.children_user + times.children_system)
    return total


def rss_kib(pid: int | None = None) -> int:
    """Resident set size of ``pid`` (default: this process) now, in KiB; 0 if it is gone."""
    try:
        return int(psutil.Process(pid).memory_info().rss) // KIB
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def file_rss_kib() -> int:
    """Resident pages of this process mapped from files (an LMDB map, say), in
    KiB: Linux's ``RssFile``; elsewhere psutil's shared memory, or 0."""
    exact = _proc_status_kib("self", "RssFile")
    if exact is not None:
        return exact
    shared = getattr(psutil.Process().memory_info(), "shared", 0)
    return int(shared) // KIB


def peak_rss_kib(pid: int | None = None) -> int:
    """Peak resident set size of ``pid`` (default: this process) since it
    started, in KiB; where the system keeps no peak for other processes, their
    current RSS (see ``peak_is_exact``)."""
    if pid is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak // KIB if sys.platform == "darwin" else peak)  # bytes on macOS
    exact = _proc_status_kib(str(pid), "VmHWM")
    return exact if exact is not None else rss_kib(pid)


def peak_is_exact() -> bool:
    """Whether ``peak_rss_kib`` of another process is its true peak here."""
    return Path("/proc/self/status").exists()


def _proc_status_kib(pid: str, field: str) -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status``, or None without /proc (or the field)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None
