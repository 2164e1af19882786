"""Forked children for the kill tests: a child reports on a pipe until the
parent kills it, and the parent busy-waits a seeded while before the kill."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable


def spawn_child(run: Callable[[int], None]) -> tuple[int, int]:
    """Fork a child that calls ``run`` with the write end of its report pipe;
    return its pid and the read end. An exception in the child is reported on
    the pipe as one ``error ...`` line; the child never returns into pytest."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(read_end)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run(write_end)
        except BaseException as exc:
            os.write(write_end, f"error {type(exc).__name__}: {exc}\n".encode())
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def spin(seconds: float) -> None:
    """Busy-wait (not sleep): a seeded jitter for where the kill lands."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def read_lines(fd: int, wanted: int | None) -> tuple[list[bytes], bytes]:
    """Read a child's report lines until ``wanted`` arrived (``None``: until
    EOF); returns them and what was left over. A line starting with ``error``
    fails the test with the child's message."""
    buffer = b""
    found: list[bytes] = []
    while wanted is None or len(found) < wanted:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"error"):
                raise AssertionError(f"the child failed: {line.decode()}")
            found.append(line)
    return found, buffer
