"""Codec throughput: AppendEntries encoded and decoded per second, against raw cbor2.

Three loops run side by side on the same message, interleaved round by round
so that machine noise hits them alike:

* ``codec`` - ``Codec.decode(Codec.encode(msg))``: frames, validation, objects;
* ``raw rows`` - ``cbor2.loads(cbor2.dumps(plain))`` where ``plain`` is the
  message as plain nested lists, one list per entry (what a hand-written
  encoder would send);
* ``raw same`` - the same raw loop over exactly the arrays the codec sends
  (entries as one flat array): the floor, pure cbor2 work without objects.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import cbor2

from pyconsensus.adapters.cbor import default_codec
from pyconsensus.core.types import Entry
from pyconsensus.raft.messages import AppendEntries

LOOPS = ("codec", "raw rows", "raw same")


@attrs.frozen(slots=True)
class CodecResult:
    entries: int
    payload: int
    frame_bytes: int
    rates: dict[str, list[float]]  # loop -> messages/s of each round

    def median(self, loop: str) -> float:
        return statistics.median(self.rates[loop])

    def ratio(self, baseline: str) -> float:
        """How many times slower the codec is than ``baseline``: the median of
        the per-round ratios (rounds are adjacent in time, so noise pairs up)."""
        pairs = zip(self.rates[baseline], self.rates["codec"], strict=True)
        return statistics.median(b / c for b, c in pairs)


def sample_message(entries: int, payload: int) -> AppendEntries:
    data = bytes(range(256)) * (payload // 256 + 1)
    batch = tuple(Entry(1000 + i, 7, data[i % 256 : i % 256 + payload]) for i in range(entries))
    return AppendEntries(
        src=1, dst=2, term=7, prev_index=999, prev_term=7, entries=batch, commit=990
    )


def _rows(message: AppendEntries) -> list[Any]:
    rows = [[e.index, e.term, e.data, int(e.kind)] for e in message.entries]
    return [
        message.src,
        message.dst,
        message.term,
        message.prev_index,
        message.prev_term,
        rows,
        message.commit,
    ]


def _rate(loop: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``loop`` over at least ``seconds``."""
    calls = 0
    batch = 1
    started = time.perf_counter()
    while True:
        for _ in range(batch):
            loop()
        calls += batch
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return calls / elapsed
        batch *= 2


def codec_throughput(
    entries: int, *, payload: int = 100, rounds: int = 5, seconds: float = 0.2
) -> CodecResult:
    """Measure the three loops ``rounds`` times each, ``seconds`` per measurement."""
    codec = default_codec()
    message = sample_message(entries, payload)
    frame = codec.encode(message)
    if codec.decode(frame) != message:
        raise AssertionError("the codec does not round-trip the benchmark message")
    rows = _rows(message)
    same = cbor2.loads(frame[2:])
    loops: dict[str, Callable[[], object]] = {
        "codec": lambda: codec.decode(codec.encode(message)),
        "raw rows": lambda: cbor2.loads(cbor2.dumps(rows)),
        "raw same": lambda: cbor2.loads(cbor2.dumps(same)),
    }
    rates: dict[str, list[float]] = {name: [] for name in LOOPS}
    for _ in range(max(rounds, 1)):
        for name in LOOPS:
            rates[name].append(_rate(loops[name], seconds))
    return CodecResult(entries, payload, len(frame), rates)


def format_codec(results: Sequence[CodecResult]) -> str:
    lines = [
        "entries  payload  frame B   codec msg/s  raw rows msg/s  raw same msg/s"
        "  codec/rows  codec/same  codec entries/s"
    ]
    for r in results:
        lines.append(
            f"{r.entries:>7}  {r.payload:>7}  {r.frame_bytes:>7}  "
            f"{r.median('codec'):>11,.0f}  {r.median('raw rows'):>14,.0f}  "
            f"{r.median('raw same'):>14,.0f}  {r.ratio('raw rows'):>9.2f}x  "
            f"{r.ratio('raw same'):>9.2f}x  {r.median('codec') * r.entries:>15,.0f}"
        )
    return "\n".join(lines)
