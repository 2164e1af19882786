"""``pyconsensus bench``: print benchmark figures (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path
from typing import Any

import attrs

from pyconsensus.cli.bench.core import core_throughput, format_core
from pyconsensus.cli.bench.linearizability import HistoryRun, format_lin, linearizability_check
from pyconsensus.cli.bench.progress import Progress
from pyconsensus.cli.bench.snapshot import register as register_snapshot
from pyconsensus.protocols import CONSENSUS_PROTOCOLS


def register(commands: Any) -> None:
    parser = commands.add_parser("bench", help="run benchmarks and print their figures")
    kinds = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    core = kinds.add_parser(
        "core",
        help="committed entries/s of a pure core in the simulator (no I/O, no faults)",
    )
    core.add_argument("--protocol", default="raft", choices=CONSENSUS_PROTOCOLS)
    core.add_argument("--nodes", type=int, default=3)
    core.add_argument("--entries", type=int, default=200_000, help="entries to commit per run")
    core.add_argument("--batch", type=int, default=1_000, help="proposals per virtual ms")
    core.add_argument("--payload", type=int, default=100, help="bytes per proposal")
    core.add_argument("--repeats", type=int, default=5, help="runs; the median is reported")
    core.add_argument(
        "--check", action="store_true", help="also run the safety checkers after every step"
    )
    core.add_argument("--json", action="store_true", help="print one JSON object")
    core.set_defaults(run=run_core)
    lin = kinds.add_parser(
        "lin",
        help="seconds to check a long client history for linearizability",
    )
    lin.add_argument("--protocol", default="raft", choices=CONSENSUS_PROTOCOLS)
    lin.add_argument("--operations", type=int, default=10_000, help="history length")
    lin.add_argument("--clients", type=int, default=10, help="concurrent clients")
    lin.add_argument("--keys", type=int, default=8, help="keys (the checker splits by key)")
    lin.add_argument("--nemesis", default="all", help="faults during the run (default all)")
    lin.add_argument("--seed", type=int, default=1)
    lin.add_argument("--json", action="store_true", help="print one JSON object")
    lin.set_defaults(run=run_lin)

    codec = kinds.add_parser(
        "codec",
        help="AppendEntries encoded+decoded per second by the CBOR codec, against raw cbor2",
    )
    codec.add_argument(
        "--entries", type=int, nargs="+", default=[1, 64, 512], help="entries per message"
    )
    _add_rounds(codec, repeats=7, seconds=0.3, seconds_help="seconds per measurement")
    codec.set_defaults(run=run_codec)

    storage = kinds.add_parser(
        "storage",
        help="durable entries/s of LmdbStorage, against a raw LMDB loop",
    )
    storage.add_argument(
        "--batch", type=int, nargs="+", default=[1, 16, 256], help="entries per write"
    )
    storage.add_argument(
        "--dir", default=None, help="where to create the databases (default: $TMPDIR)"
    )
    storage.add_argument(
        "--no-sync", action="store_true", help="sync=False on both sides (CPU cost only)"
    )
    _add_rounds(storage, repeats=9, seconds=0.4, seconds_help="seconds per loop and round")
    storage.set_defaults(run=run_storage)

    cluster = kinds.add_parser(
        "cluster",
        help="committed writes/s and latency of a 3-process loopback cluster (LMDB, sync on)",
    )
    cluster.add_argument("--protocol", default="raft", choices=CONSENSUS_PROTOCOLS)
    cluster.add_argument(
        "--clients", type=int, nargs="+", default=[1, 16, 64], help="concurrent clients"
    )
    cluster.add_argument(
        "--seconds", "--duration", type=float, default=5.0, help="measured window per run"
    )
    cluster.add_argument("--warmup", type=float, default=1.0, help="seconds before the window")
    cluster.add_argument("--payload", type=int, default=100, help="bytes per value")
    cluster.add_argument(
        "--keys", type=int, default=10_000, help="keys the puts are drawn from (uniformly)"
    )
    cluster.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a cluster-file setting for the nodes, e.g. storage_writes=thread (repeatable)",
    )
    cluster.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a protocol option for the nodes' core, e.g. max_inflight=128 (repeatable)",
    )
    cluster.add_argument(
        "--sessions",
        type=int,
        default=None,
        metavar="N",
        help="one row of N concurrent client sessions, each writing sequentially, with its "
        "leader changes and longest leaderless gap (replaces --clients; e.g. --sessions 500 "
        "--seconds 60 --repeats 1)",
    )
    cluster.add_argument("--repeats", type=int, default=3, help="runs; medians are reported")
    cluster.add_argument(
        "--tick-ms", type=int, default=None, help="the nodes' tick interval (default: theirs)"
    )
    cluster.add_argument("--no-sync", action="store_true", help="LmdbStorage(sync=False)")
    cluster.add_argument(
        "--metrics",
        action="store_true",
        help="nodes serve /metrics (scraped every second): the cost of metrics",
    )
    cluster.add_argument(
        "--tls", action="store_true", help="mutual TLS everywhere (a development CA per run)"
    )
    cluster.add_argument(
        "--dir", default=None, help="where to create the clusters (default: $TMPDIR)"
    )
    cluster.add_argument("--json", action="store_true", help="print one JSON object")
    cluster.set_defaults(run=run_cluster)

    memory = kinds.add_parser(
        "memory",
        help="RSS of a Raft replica (LMDB, KV store) holding N committed entries, uncompacted",
    )
    memory.add_argument("--entries", type=int, default=1_000_000, help="entries to commit")
    memory.add_argument("--payload", type=int, default=100, help="bytes per value")
    memory.add_argument("--keys", type=int, default=10_000, help="keys the puts are drawn from")
    memory.add_argument("--batch", type=int, default=1_000, help="proposals per batch")
    memory.add_argument(
        "--role", choices=("leader", "follower"), nargs="+", default=["leader", "follower"]
    )
    memory.add_argument("--dir", default=None, help="where to create the storage")
    memory.add_argument("--json", action="store_true", help="print one JSON object")
    memory.set_defaults(run=run_memory)
    register_snapshot(kinds)


def _add_rounds(
    parser: argparse.ArgumentParser, *, repeats: int, seconds: float, seconds_help: str
) -> None:
    """The options of a micro-benchmark measured in timed rounds of
    ``--payload``-byte entries, and ``--json``."""
    parser.add_argument("--payload", type=int, default=100, help="bytes per entry")
    parser.add_argument("--repeats", type=int, default=repeats, help="rounds; medians are reported")
    parser.add_argument("--seconds", type=float, default=seconds, help=seconds_help)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_core(args: argparse.Namespace) -> int:
    runs = [
        core_throughput(
            args.protocol,
            nodes=args.nodes,
            entries=args.entries,
            batch=args.batch,
            payload=args.payload,
            check=args.check,
        )
        for _ in range(max(args.repeats, 1))
    ]
    rates = sorted(r.entries_per_s for r in runs)
    median = statistics.median(rates)
    if args.json:
        print(
            json.dumps(
                {
                    "protocol": args.protocol,
                    "nodes": args.nodes,
                    "batch": args.batch,
                    "payload": args.payload,
                    "checks": args.check,
                    "repeats": len(runs),
                    "entries_per_s": round(median),
                    "runs_entries_per_s": [round(r) for r in rates],
                    "python": platform.python_version(),
                }
            )
        )
    else:
        print(format_core(runs))
        print(f"median: {median:,.0f} committed entries/s over {len(runs)} runs")
    return 0


def run_codec(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the adapters need optional extras (cbor2,
    # lmdb) that `pyconsensus bench core` and `sim` must not require.
    from pyconsensus.adapters.cbor.bench import (  # noqa: PLC0415
        codec_throughput,
        format_codec,
    )

    results = [
        codec_throughput(n, payload=args.payload, rounds=args.repeats, seconds=args.seconds)
        for n in args.entries
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "codec",
                    "payload": args.payload,
                    "repeats": args.repeats,
                    "python": platform.python_version(),
                    "results": [
                        {
                            "entries": r.entries,
                            "frame_bytes": r.frame_bytes,
                            "messages_per_s": {k: round(r.median(k)) for k in r.rates},
                            "codec_vs_raw_rows": round(r.ratio("raw rows"), 3),
                            "codec_vs_raw_same": round(r.ratio("raw same"), 3),
                        }
                        for r in results
                    ],
                }
            )
        )
    else:
        print(format_codec(results))
        print(
            "codec/rows and codec/same: how many times slower the codec's encode+decode is "
            f"than raw cbor2 (median of {args.repeats} per-round ratios)"
        )
    return 0


def run_storage(args: argparse.Namespace) -> int:
    from pyconsensus.adapters.lmdb.bench import (  # noqa: PLC0415 (see run_codec)
        default_directory,
        filesystem_of,
        format_storage,
        storage_throughput,
    )

    directory = args.dir or default_directory()
    progress = Progress("bench storage", len(args.batch), quiet=args.json)
    results = []
    for b in args.batch:
        progress.start(f"batch {b}")
        result = storage_throughput(
            b,
            payload=args.payload,
            rounds=args.repeats,
            seconds=args.seconds,
            sync=not args.no_sync,
            directory=directory,
        )
        results.append(result)
        adapter, raw = statistics.median(result.adapter), statistics.median(result.raw)
        progress.finish(f"{adapter:,.0f} entries/s (raw LMDB {raw:,.0f})")
    where = filesystem_of(Path(directory))
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "storage",
                    "payload": args.payload,
                    "repeats": args.repeats,
                    "sync": not args.no_sync,
                    "filesystem": where,
                    "python": platform.python_version(),
                    "results": [
                        {
                            "batch": r.batch,
                            "adapter_entries_per_s": round(statistics.median(r.adapter)),
                            "raw_entries_per_s": round(statistics.median(r.raw)),
                            "overhead": round(r.overhead, 4),
                        }
                        for r in results
                    ],
                }
            )
        )
    else:
        print(f"directory {directory} ({where})")
        if args.no_sync:
            print("sync=False on both sides: no flush to disk, this measures CPU cost only")
        print(format_storage(results))
        print(
            f"medians of {args.repeats} rounds; the loops alternate commit by commit; "
            "overhead = median of per-round (raw rate / adapter rate - 1)"
        )
    return 0


def run_cluster(args: argparse.Namespace) -> int:
    import trio  # noqa: PLC0415 (see run_codec)

    from pyconsensus.adapters.trio.bench import (  # noqa: PLC0415
        bench_cluster,
        format_cluster,
        results_json,
    )

    results = trio.run(
        lambda: bench_cluster(
            protocol=args.protocol,
            clients=[args.sessions] if args.sessions else args.clients,
            seconds=args.seconds,
            warmup=args.warmup,
            payload=args.payload,
            repeats=max(1, args.repeats),
            sync=not args.no_sync,
            directory=Path(args.dir) if args.dir else None,
            tick_ms=args.tick_ms,
            keys=args.keys,
            settings=_key_values(args.set, typed=True),
            protocol_options=_key_values(args.option, typed=False),
            tls=args.tls,
            progress=Progress(
                "bench cluster",
                len([args.sessions] if args.sessions else args.clients) * max(1, args.repeats),
                quiet=args.json,
            ),
            metrics=args.metrics,
        )
    )
    if args.json:
        per_run = results_json(results)
        report: dict[str, Any] = {
            "benchmark": "cluster",
            "payload": args.payload,
            "seconds": args.seconds,
            "sync": not args.no_sync,
            "durable": not args.no_sync,
            "tls": args.tls,
            "keys": args.keys,
            "settings": args.set,
            "options": args.option,
            "metrics": args.metrics,
            "python": platform.python_version(),
        }
        if len(per_run) == 1:
            report |= per_run[0]  # one C: its keys at the top, as the peers print them
        report["results"] = per_run
        print(json.dumps(report))
    else:
        print(format_cluster(results))
        print(
            f"{args.protocol}, 3 node processes + 1 load-generator process on loopback, "
            f"{args.payload}-byte commands, sync={'off' if args.no_sync else 'on'}, "
            f"metrics {'on' if args.metrics else 'off'}{', mutual TLS' if args.tls else ''}; "
            f"medians of {max(1, args.repeats)} runs of {args.seconds:g} s"
        )
    return 0


def run_lin(args: argparse.Namespace) -> int:
    run = HistoryRun(
        args.protocol, args.operations, args.clients, args.keys, args.seed, args.nemesis
    )
    result = linearizability_check(run)
    if args.json:
        figures = attrs.asdict(result)
        figures["python"] = platform.python_version()
        print(json.dumps(figures))
    else:
        print(format_lin([result]))
    return 0 if result.valid is not False else 1


def run_memory(args: argparse.Namespace) -> int:
    from pyconsensus.cli.bench.memory import format_memory, measure  # noqa: PLC0415 (see run_codec)

    reports = [
        measure(
            entries=args.entries,
            payload=args.payload,
            keys=args.keys,
            batch=args.batch,
            role=role,
            directory=args.dir,
        )
        for role in args.role
    ]
    if args.json:
        print(json.dumps({"benchmark": "memory", "results": reports}))
    else:
        for report in reports:
            print(format_memory(report))
    return 0


def _key_values(items: list[str], *, typed: bool) -> dict[str, Any]:
    """``["a=1", "b=true"]`` as a dict; ``typed`` turns numbers and booleans into
    TOML values (cluster-file settings), otherwise values stay text (protocol
    options are parsed by the protocol)."""
    found: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        value: Any = text
        if typed:
            if text in ("true", "false"):
                value = text == "true"
            else:
                try:
                    value = int(text)
                except ValueError:
                    try:
                        value = float(text)
                    except ValueError:
                        value = text
        found[key] = value
    return found
