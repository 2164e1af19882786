"""Per-row progress of the long benchmarks, on a terminal.

``bench storage`` and ``bench cluster`` take minutes; each row (a batch size,
a client count and repeat) announces itself and its figures on standard
error when that is a terminal, so a run shows it is alive. With ``--json``, or
when stderr is a file or a pipe, nothing is printed: the output stays
machine-readable and the logs stay clean.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``start(what)`` before a row, ``finish(figures)`` after it."""

    def __init__(
        self, command: str, total: int, *, quiet: bool = False, stream: TextIO | None = None
    ) -> None:
        self.command = command
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and self.stream.isatty()
        self.done = 0
        self._what = ""
        self._started = 0.0

    def start(self, what: str) -> None:
        """Row ``done + 1`` of ``total`` begins."""
        self._what = what
        self._started = time.monotonic()
        self._line(f"[{self.done + 1}/{self.total}] {what} ...")

    def finish(self, figures: str) -> None:
        """The row begun last is done; ``figures`` says what it measured."""
        self.done += 1
        took = time.monotonic() - self._started
        self._line(f"[{self.done}/{self.total}] {self._what}: {figures} ({took:.1f} s)")

    def _line(self, text: str) -> None:
        if self.enabled:
            print(f"{self.command}: {text}", file=self.stream, flush=True)
