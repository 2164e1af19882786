"""Durable write throughput of ``LmdbStorage`` against a raw LMDB loop, side by side.

Both loops commit one transaction per batch with the same environment flags
(``sync`` on, no writemap) into a fresh directory each, and they alternate
round by round so that disk and CPU noise hit both alike:

* ``adapter`` - ``LmdbStorage.write(Write(entries=batch))``: validation,
  records with checksums, the log-state record, one commit;
* ``raw`` - ``txn.put(key, value)`` of the same number of keys and values of
  the same size (pre-built), one commit. This is the floor.
"""

from __future__ import annotations

import contextlib
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
        """Adapter time per entry over raw time per entry, minus one (medians)."""
        return statistics.median(self.raw) / statistics.median(self.adapter) - 1


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
    rounds: int = 7,
    seconds: float = 0.5,
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
        with warnings.catch_warnings():
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
            # Only the write calls are timed: building the entries is the
            # caller's work, not the storage's.
            done, busy = 0, 0.0
            while busy < seconds:
                entries = [
                    Entry(next_adapter + i, 1, datas[(next_adapter + i) % 256])
                    for i in range(batch)
                ]
                write = Write(entries=entries)
                started = time.perf_counter()
                storage.write(write)
                busy += time.perf_counter() - started
                next_adapter += batch
                done += batch
            adapter_rates.append(done / busy)
            done, busy = 0, 0.0
            while busy < seconds:
                started = time.perf_counter()
                with env.begin(write=True, db=raw_db) as txn:
                    for i in range(next_raw, next_raw + batch):
                        txn.put(i.to_bytes(8, "big"), raw_value)
                busy += time.perf_counter() - started
                next_raw += batch
                done += batch
            raw_rates.append(done / busy)
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
