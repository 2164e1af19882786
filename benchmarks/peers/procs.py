"""Processes of a peer benchmark: start them, read their CPU and peak RSS (psutil, see
``pyconsensus.adapters.procstats``), stop them by PID.

Every process is started in its own session (a Ctrl-C in the terminal reaches only the
orchestrator, which then stops them in order) and with a parent-death signal, so that a
replica never outlives an orchestrator that was killed outright. Linux only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pyconsensus.adapters import procstats

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel to SIGTERM it when the
    # orchestrator dies, however it dies.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ProcessSet:
    """The processes one benchmark run started; ``stop_all`` (also on ``__exit__``) ends
    each of them by its PID: SIGTERM, then SIGKILL after ``grace`` seconds."""

    def __init__(self, grace: float = 5.0) -> None:
        self.grace = grace
        self.started: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(
        self,
        argv: Sequence[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        pipes: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` with stderr (and stdout unless ``pipes``) appended to ``log``."""
        log_file = log.open("ab")
        self._logs.append(log_file)
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else log_file,
            stderr=log_file,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads run in the orchestrator yet)
        )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        """Stop every process still running, newest first, by PID."""
        for proc in reversed(self.started):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for proc in reversed(self.started):
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for log_file in self._logs:
            log_file.close()
        self._logs.clear()

    def __enter__(self) -> ProcessSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that ``with ProcessSet()`` blocks clean up."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads, and the children it
    has waited for, such as PySyncObj's forked snapshot writers) so far."""
    return procstats.cpu_seconds(pid, children=True)


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of process ``pid`` since it started, in MiB (see
    ``pyconsensus.adapters.procstats.peak_rss_kib``)."""
    kib = procstats.peak_rss_kib(pid)
    if not kib:
        raise RuntimeError(f"no resident set size for pid {pid}")
    return kib / 1024


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now (held open together while
    chosen so that they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    procs: Sequence[subprocess.Popen[bytes]] = (),
    interval: float = 0.2,
) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` s or when one of ``procs``
    has exited."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if predicate():
                return
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"process {proc.pid} exited ({proc.returncode}) while {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s {what}")
        time.sleep(interval)
