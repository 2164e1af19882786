"""Durable write throughput of ``LmdbStorage`` against a raw LMDB loop, side by side.

Both loops commit one transaction per batch with the same environment flags
(``sync`` on, no writemap) into a fresh directory each, and they take turns
commit by commit so that disk and CPU noise hit both alike; the overhead is
the median of the per-round ratios:

* ``adapter`` - ``LmdbStorage.write(Write(entries=batch))``: validation,
  records with checksums, the log-state record, one commit;
* ``raw`` - ``txn.put(key, value)`` of the same number of keys and values of
  the same size (pre-built), one commit. This is the floor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import lmdb

from pyconsensus.adapters.lmdb import records
from pyconsensus.adapters.lmdb.storage import LmdbStorage
from pyconsensus.core.ready import Write
from pyconsensus.core.types import Entry


@attrs.frozen(slots=True)
class StorageResult:
    batch: int
    payload: int
    sync: bool
    adapter: list[float]  # entries/s of each round
    raw: list[float]

    @property
    def overhead(self) -> float:
        """Median over rounds of (adapter time per entry / raw time per entry - 1)."""
        return statistics.median(r / a - 1 for a, r in zip(self.adapter, self.raw, strict=True))


def filesystem_of(path: Path) -> str:
    """The mount point and type holding ``path`` (best effort, Linux only)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    best = ("", "unknown")
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and resolved.startswith(parts[1]) and len(parts[1]) > len(best[0]):
            best = (parts[1], parts[2])
    return f"{best[1]} on {best[0]}"


@contextlib.contextmanager
def _directory(parent: str | None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pyconsensus-bench-", dir=parent) as name:
        yield Path(name)


@contextlib.contextmanager
def _quiet(really: bool) -> Iterator[None]:
    """Silence the storage's sync=False warning: the caller asked for it."""
    logger = logging.getLogger("pyconsensus.adapters.lmdb.storage")
    disabled = logger.disabled
    logger.disabled = disabled or really
    try:
        yield
    finally:
        logger.disabled = disabled


def _raw_env(path: Path, sync: bool) -> Any:
    return lmdb.open(
        str(path),
        map_size=1 << 32,
        max_dbs=4,
        sync=sync,
        metasync=sync,
        writemap=False,
        readahead=False,
    )


def storage_throughput(
    batch: int,
    *,
    payload: int = 100,
    rounds: int = 9,
    seconds: float = 0.4,
    sync: bool = True,
    directory: str | None = None,
) -> StorageResult:
    """Entries/s of both loops, ``rounds`` rounds of about ``seconds`` each."""
    data = bytes(range(256)) * (payload // 256 + 1)
    datas = [data[i % 256 : i % 256 + payload] for i in range(256)]
    sample = records.encode_entry(Entry(1, 1, datas[0]))
    raw_value = b"\x00" * len(sample)
    adapter_rates: list[float] = []
    raw_rates: list[float] = []
    with _directory(directory) as root, contextlib.ExitStack() as stack:
        with warnings.catch_warnings(), _quiet(not sync):
            warnings.simplefilter("ignore")
            storage = LmdbStorage(
                root / "adapter",
                cluster_id="bench",
                node_id=1,
                sync=sync,
                map_size=1 << 32,
            )
        stack.callback(storage.close)
        env = _raw_env(root / "raw", sync)
        stack.callback(env.close)
        raw_db = env.open_db(b"log")
        next_adapter = next_raw = 1
        for _ in range(max(rounds, 1)):
            # The two loops take turns commit by commit, so that both see the
            # same disk: flush latency on shared machines drifts by 10x and more.
            # Only the write calls are timed: building the entries is the
            # caller's work, not the storage's.
            adapter_busy = raw_busy = 0.0
            commits = 0
            while adapter_busy + raw_busy < 2 * seconds:
                entries = [
                    Entry(next_adapter + i, 1, datas[(next_adapter + i) % 256])
                    for i in range(batch)
                ]
                write = Write(entries=entries)
                started = time.perf_counter()
                storage.write(write)
                adapter_busy += time.perf_counter() - started
                next_adapter += batch
                started = time.perf_counter()
                with env.begin(write=True, db=raw_db) as txn:
                    for i in range(next_raw, next_raw + batch):
                        txn.put(i.to_bytes(8, "big"), raw_value)
                raw_busy += time.perf_counter() - started
                next_raw += batch
                commits += 1
            adapter_rates.append(commits * batch / adapter_busy)
            raw_rates.append(commits * batch / raw_busy)
    return StorageResult(batch, payload, sync, adapter_rates, raw_rates)


def format_storage(results: Sequence[StorageResult]) -> str:
    lines = ["batch  payload  sync  adapter entries/s  raw entries/s  overhead  adapter commits/s"]
    for r in results:
        adapter = statistics.median(r.adapter)
        lines.append(
            f"{r.batch:>5}  {r.payload:>7}  {'on' if r.sync else 'off':>4}  "
            f"{adapter:>17,.0f}  {statistics.median(r.raw):>13,.0f}  "
            f"{r.overhead:>+8.1%}  {adapter / r.batch:>17,.0f}"
        )
    return "\n".join(lines)


def default_directory() -> str:
    return os.environ.get("PYCONSENSUS_BENCH_DIR") or tempfile.gettempdir()
