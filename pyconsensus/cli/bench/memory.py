"""``pyconsensus bench memory``: resident memory of a replica holding N committed entries.

A fresh child process builds one replica of a 3-node Raft cluster the way the
trio runtime does - ``RaftNode`` on ``LmdbStorage``, a ``ReplicatedStateMachine``
over the KV store, compaction off - and drives N proposals through it in batches,
the other two members answering every AppendEntries at once (in-process, no
network). Every entry is a KV put of a random ``payload``-byte value to a key
drawn from ``keys`` (the standard workload) wrapped in its session envelope, so
the log entries are ``payload`` + 38 bytes. Once all N are committed and applied
(and the log not compacted), the child reads its resident set and its peak
(``pyconsensus.adapters.procstats``: psutil and getrusage, so it runs on macOS
too), and reports how much of it is the core's log, LMDB's map and the rest.

``--role follower`` measures a follower instead: the entries arrive as
AppendEntries frames decoded by the CBOR codec, as from the network.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KIB = 1024


def run_child(  # noqa: C901 - one child's whole measurement; the imports stay lazy in it
    *, entries: int, payload: int, keys: int, batch: int, role: str, directory: str
) -> dict[str, Any]:
    # Imported here: the parent process must stay small and import nothing heavy.
    from pyconsensus.adapters import procstats  # noqa: PLC0415
    from pyconsensus.adapters.cbor import default_codec  # noqa: PLC0415
    from pyconsensus.adapters.lmdb import LmdbStorage  # noqa: PLC0415
    from pyconsensus.core.types import Entry  # noqa: PLC0415
    from pyconsensus.raft.messages import (  # noqa: PLC0415
        AppendEntries,
        AppendEntriesResponse,
    )
    from pyconsensus.raft.node import RaftNode  # noqa: PLC0415
    from pyconsensus.rsm import ReplicatedStateMachine, SessionCommand, kv  # noqa: PLC0415

    storage = LmdbStorage(directory, cluster_id="memory", node_id=1, sync=True)
    members = [1, 2, 3]
    node = RaftNode(1, members, storage, random.Random(1))
    rsm = ReplicatedStateMachine(node, kv.KVStateMachine(), compact_every=0)
    rng = random.Random(7)
    gc.collect()
    baseline_kib = procstats.rss_kib()
    started = time.perf_counter()

    def drain() -> list[object]:
        sent: list[object] = []
        while node.has_ready():
            ready = node.ready()
            if ready.write is not None:
                storage.write(ready.write)
            sent.extend(ready.early_messages)
            sent.extend(ready.messages)
            rsm.handle(ready)
        return sent

    def command(seq: int) -> SessionCommand:
        value = rng.randbytes(payload)
        return SessionCommand(1, seq, kv.put(b"key-%06d" % rng.randrange(keys), value), seq)

    if role == "leader":
        from pyconsensus.raft.messages import RequestVote, RequestVoteResponse  # noqa: PLC0415

        def answer(messages: list[object]) -> bool:
            """The two other members: grant every vote, accept every append."""
            answered = False
            for message in messages:
                if isinstance(message, RequestVote):
                    node.receive(
                        RequestVoteResponse(message.dst, 1, message.term, True, message.pre_vote)
                    )
                    answered = True
                elif isinstance(message, AppendEntries):
                    last = message.prev_index + len(message.entries)
                    node.receive(AppendEntriesResponse(message.dst, 1, message.term, True, last))
                    answered = True
            return answered

        while node.status().role.value != "leader":
            node.tick()
            answer(drain())
        seq = 0
        while seq < entries:
            for _ in range(min(batch, entries - seq)):
                seq += 1
                rsm.submit(command(seq))
            while answer(drain()):
                pass
    else:
        codec = default_codec()
        index = 0
        seq = 0
        while seq < entries:
            chunk = []
            for _ in range(min(batch, entries - seq)):
                seq += 1
                index += 1
                chunk.append(Entry(index, 1, command(seq).encode()))
            message = AppendEntries(
                2, 1, 1, index - len(chunk), 1 if index > len(chunk) else 0, tuple(chunk), index
            )
            node.receive(codec.decode(codec.encode(message)))
            drain()
        # The leader's commit index reaches followers with the next message.
        node.receive(codec.decode(codec.encode(AppendEntries(2, 1, 1, index, 1, (), index))))
        drain()
    elapsed = time.perf_counter() - started
    status = node.status()
    if status.commit_index < entries or rsm.applied < entries:
        raise SystemExit(
            f"only {status.commit_index} committed / {rsm.applied} applied of {entries}"
        )
    gc.collect()
    log_entries = len(node.log.entries)
    sample = node.log.entries[len(node.log.entries) // 2]
    rss_kib, file_kib = procstats.rss_kib(), procstats.file_rss_kib()
    result = {
        "benchmark": "memory",
        "role": role,
        "entries": entries,
        "payload": payload,
        "entry_bytes": len(sample.data),
        "keys": keys,
        "log_entries_in_memory": log_entries,
        "commit_index": status.commit_index,
        "rss_mb": round(rss_kib / KIB, 1),
        "peak_rss_mb": round(procstats.peak_rss_kib() / KIB, 1),
        "baseline_rss_mb": round(baseline_kib / KIB, 1),
        "file_rss_mb": round(file_kib / KIB, 1),
        "anon_rss_mb": round((rss_kib - file_kib) / KIB, 1),
        "per_entry_bytes": round((rss_kib - baseline_kib) * KIB / entries, 1),
        "lmdb_file_mb": round(sum(f.stat().st_size for f in Path(directory).iterdir()) / 2**20, 1),
        "seconds": round(elapsed, 1),
        "python": sys.version.split()[0],
    }
    storage.close()
    return result


def measure(
    *,
    entries: int = 1_000_000,
    payload: int = 100,
    keys: int = 10_000,
    batch: int = 1_000,
    role: str = "leader",
    directory: str | None = None,
) -> dict[str, Any]:
    """Run the measurement in a fresh child process and return its report."""
    with tempfile.TemporaryDirectory(dir=directory) as root:
        argv = [
            sys.executable,
            "-m",
            "pyconsensus.cli.bench.memory",
            "--entries",
            str(entries),
            "--payload",
            str(payload),
            "--keys",
            str(keys),
            "--batch",
            str(batch),
            "--role",
            role,
            "--data",
            str(Path(root) / "node"),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"memory benchmark failed: {done.stderr.strip()[-2000:]}")
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return report


def format_memory(report: dict[str, Any]) -> str:
    return (
        f"{report['role']} holding {report['commit_index']:,} committed entries of "
        f"{report['entry_bytes']} bytes ({report['log_entries_in_memory']:,} in the "
        f"in-memory log), compaction off:\n"
        f"  RSS {report['rss_mb']} MB (peak {report['peak_rss_mb']} MB; "
        f"{report['anon_rss_mb']} MB anonymous, {report['file_rss_mb']} MB file-backed); "
        f"{report['baseline_rss_mb']} MB before the first entry; "
        f"{report['per_entry_bytes']} bytes per entry\n"
        f"  LMDB files {report['lmdb_file_mb']} MB; built in {report['seconds']} s"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """The child process: prints one JSON report."""
    parser = argparse.ArgumentParser(description="pyconsensus memory benchmark (child)")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--payload", type=int, default=100)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--role", choices=("leader", "follower"), default="leader")
    parser.add_argument("--data", required=True)
    args = parser.parse_args(argv)
    report = run_child(
        entries=args.entries,
        payload=args.payload,
        keys=args.keys,
        batch=args.batch,
        role=args.role,
        directory=args.data,
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
