"""``pyconsensus sim``: seeded fault-injection sweeps in the deterministic simulator.

This module may do I/O: it shows progress, writes replay files and pictures of
failures, reads replays back, and can fan seeds out over processes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.sim.diagram import render_html
from pyconsensus.sim.faults import FAULT_KINDS
from pyconsensus.sim.nemesis import FAMILIES, NEMESES, describe, parse
from pyconsensus.sim.network import NetworkConfig
from pyconsensus.sim.replay import Replay, dumps, loads, run_replay
from pyconsensus.sim.shrink import shrink
from pyconsensus.sim.specs import SPECS, ProtocolSpec, get_spec
from pyconsensus.sim.sweep import (
    WORKLOADS,
    RunConfig,
    RunResult,
    SweepResult,
    fault_kinds,
    run_seed,
    summarize,
)
from pyconsensus.sim.trace import Trace

DETAILED_FAILURES = 3  # failures shrunk and drawn; the rest are listed


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "sim",
        help="run a seeded fault-injection sweep in the simulator",
        description="Run one simulated cluster per seed under random faults, check safety "
        "after every step, liveness after healing and (with --check linearizability) the "
        "clients' history; exit 1 on any violation. A failing seed is shrunk, and a replay "
        "file and a picture of it are written.",
    )
    parser.add_argument("--protocol", default="raft", choices=sorted(SPECS))
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    parser.add_argument("--start-seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    parser.add_argument(
        "--duration", type=int, default=4_000, help="virtual ms of faults per run (default 4000)"
    )
    parser.add_argument(
        "--faults",
        default="all",
        help=f"comma-separated fault kinds from {','.join(FAULT_KINDS)}, or all/none "
        "(the original generator; --nemesis replaces it)",
    )
    parser.add_argument(
        "--nemesis",
        default="",
        help="comma-separated nemesis families (" + ", ".join(FAMILIES) + ") or single "
        "nemeses (" + ", ".join(NEMESES) + "), or all",
    )
    parser.add_argument(
        "--fault-gap", type=int, default=400, help="mean virtual ms between faults (default 400)"
    )
    parser.add_argument(
        "--heal-every",
        type=int,
        default=0,
        metavar="MS",
        help="with --nemesis: a healing period closes every MS of virtual time",
    )
    parser.add_argument(
        "--heal-for", type=int, default=0, metavar="MS", help="length of each healing period"
    )
    parser.add_argument("--clients", type=int, default=3, help="simulated clients (default 3)")
    parser.add_argument(
        "--workload",
        # "custom" needs a Workload object: only the Python API (run_seed) can take one.
        choices=[w for w in WORKLOADS if w != "custom"],
        default=None,
        help="proposals (raw proposals) or kv (session clients of a key-value store); "
        "--check linearizability implies kv",
    )
    parser.add_argument(
        "--check",
        choices=("linearizability", "none"),
        default="none",
        help="also check the clients' history for linearizability",
    )
    parser.add_argument("--keys", type=int, default=4, help="keys of the kv workload (default 4)")
    parser.add_argument(
        "--delay",
        default="1:8",
        metavar="MIN:MAX",
        help="message delay range in virtual ms (default 1:8)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="protocol option, e.g. pre_vote=false or election_ticks=3 (repeatable)",
    )
    parser.add_argument(
        "--stop-on-failure", action="store_true", help="stop at the first violating seed"
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument(
        "--replay", metavar="FILE", help="run a replay file again (other run options ignored)"
    )
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="write a space-time diagram of the run (with --replay, or of the first seed)",
    )
    parser.add_argument(
        "--window",
        metavar="START:END",
        help="virtual ms to draw (default: all, or around a violation)",
    )
    parser.add_argument(
        "--failures-dir",
        default="sim-failures",
        metavar="DIR",
        help="where replay files and pictures of failures go (default sim-failures)",
    )
    parser.add_argument("--no-shrink", action="store_true", help="do not shrink failures")
    parser.add_argument(
        "--shrink-seconds",
        type=float,
        default=60.0,
        help="wall-clock budget for shrinking each failure (default 60)",
    )
    parser.set_defaults(run=run)


# ----------------------------------------------------------------------------


def _pair(text: str, what: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split(":"))
    except ValueError:
        raise ConfigError(f"{what} must look like MIN:MAX, got {text!r}") from None
    return low, high


def _options(items: Sequence[str]) -> dict[str, str]:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option needs KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    return options


def build_config(args: argparse.Namespace) -> RunConfig:
    """The ``RunConfig`` the command-line options describe."""
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    low, high = _pair(args.delay, "--delay")
    check = args.check == "linearizability"
    workload = args.workload or ("kv" if check else "proposals")
    nemesis = parse(args.nemesis) if args.nemesis else ()
    if args.nemesis and not nemesis and args.nemesis.strip() != "none":
        raise ConfigError("--nemesis selected nothing")
    config = RunConfig(
        nodes=args.nodes,
        duration_ms=args.duration,
        faults=fault_kinds(args.faults),
        mean_fault_gap_ms=args.fault_gap,
        clients=args.clients,
        network=NetworkConfig(min_delay_ms=low, max_delay_ms=high),
        workload=workload,
        check_linearizability=check,
        keys=args.keys,
        nemesis=nemesis,
        heal_every_ms=args.heal_every,
        heal_for_ms=args.heal_for,
    )
    config.schedule(0)  # validates the fault kinds and healing periods
    return config


def run(args: argparse.Namespace) -> int:
    try:
        if args.replay:
            return _run_replay(args)
        options = _options(args.option)
        spec = get_spec(args.protocol).with_options(options)
        config = build_config(args)
    except (ConfigError, OSError) as exc:
        print(f"pyconsensus sim: {exc}", file=sys.stderr)
        return 2
    seeds = range(args.start_seed, args.start_seed + args.seeds)
    if not spec.total_order:
        return _run_broadcast(spec, config, seeds, args.stop_on_failure)
    started = time.perf_counter()
    progress = _Progress(len(seeds), enabled=not args.quiet and sys.stderr.isatty())
    result = SweepResult(spec.name)
    for run_result in _results(args, spec, options, config, seeds):
        result.add(run_result)
        progress.update(run_result)
        if args.stop_on_failure and not run_result.ok:
            break
    progress.close()
    elapsed = time.perf_counter() - started
    print(summarize(result, spec.properties))
    print(f"wall time       {elapsed:.1f} s ({len(result.seeds) / max(elapsed, 1e-9):.1f} seeds/s)")
    if args.html and result.seeds:
        first = run_seed(spec, result.seeds[0], config, trace=True)
        _write_picture(Path(args.html), first, args.window)
        print(f"picture of seed {first.seed}: {args.html}")
    for k, failure in enumerate(result.failures):
        if k < DETAILED_FAILURES:
            _report_failure(args, spec, options, config, failure)
        else:
            print(f"seed {failure.seed}: {failure.violation} (not shrunk: too many failures)")
    return 0 if result.ok else 1


def _run_broadcast(
    spec: ProtocolSpec, config: RunConfig, seeds: range, stop_on_failure: bool
) -> int:
    """Best-effort and reliable broadcast have no common sequence to check for
    linearizability: they run their own sweep (sender crashes mid-broadcast,
    then agreement among the correct members after healing)."""
    from pyconsensus.sim.broadcast_sweep import (  # noqa: PLC0415 - only for these protocols
        BroadcastRunConfig,
        broadcast_sweep,
        summarize_broadcast,
    )

    started = time.perf_counter()
    result = broadcast_sweep(
        spec, seeds, BroadcastRunConfig.from_run_config(config), stop_on_failure=stop_on_failure
    )
    print(summarize_broadcast(result, spec.properties))
    print(f"wall time       {time.perf_counter() - started:.1f} s")
    for failure in result.failures:
        print(
            f"reproduce seed {failure.seed}: pyconsensus sim --protocol {spec.name} "
            f"--start-seed {failure.seed} --seeds 1"
        )
    return 0 if result.ok else 1


def _results(
    args: argparse.Namespace,
    spec: ProtocolSpec,
    options: dict[str, str],
    config: RunConfig,
    seeds: range,
) -> Iterator[RunResult]:
    if args.jobs <= 1:
        for seed in seeds:
            yield run_seed(spec, seed, config)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(
        args.jobs, initializer=_worker_init, initargs=(args.protocol, options, config)
    ) as pool:
        yield from pool.imap(_worker_run, seeds, chunksize=4)


_WORKER: dict[str, Any] = {}


def _worker_init(protocol: str, options: dict[str, str], config: RunConfig) -> None:
    _WORKER["spec"] = get_spec(protocol).with_options(options)
    _WORKER["config"] = config


def _worker_run(seed: int) -> RunResult:
    result = run_seed(_WORKER["spec"], seed, _WORKER["config"])
    return attrs.evolve(result, history=())  # keep the pipe light; failures are re-run


class _Progress:
    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self.started = time.perf_counter()

    def update(self, result: RunResult) -> None:
        self.done += 1
        self.failed += not result.ok
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (width - filled)
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed else 0.0
        eta = (self.total - self.done) / rate if rate else 0.0
        print(
            f"\r[{bar}] {self.done}/{self.total} seeds, {self.failed} violations, "
            f"{rate:.1f} seeds/s, ETA {eta:.0f} s ",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def _report_failure(
    args: argparse.Namespace,
    spec: ProtocolSpec,
    options: dict[str, str],
    config: RunConfig,
    failure: RunResult,
) -> None:
    violation = failure.violation
    assert violation is not None
    print(f"\nseed {failure.seed} FAILED: {violation}")
    run_config, schedule, note = config, failure.schedule, "original schedule"
    if not args.no_shrink:
        deadline = time.perf_counter() + args.shrink_seconds
        shrunk = shrink(
            spec,
            failure.seed,
            config,
            failure.schedule,
            violation,
            should_stop=lambda: time.perf_counter() > deadline,
        )
        run_config, schedule = shrunk.config, shrunk.schedule
        note = f"shrunk: {shrunk.summary()}"
        print(f"  {note}")
    replay = Replay(args.protocol, failure.seed, run_config, schedule, options, note=note)
    final = run_replay(replay, spec, trace=True)
    replay = attrs.evolve(replay, violation=final.violation)
    directory = Path(args.failures_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"{args.protocol}-seed{failure.seed}"
    replay_path = stem.with_suffix(".replay.json")
    replay_path.write_text(dumps(replay))
    html_path = stem.with_suffix(".html")
    _write_picture(html_path, final, args.window)
    if final.violation is not None:
        print(f"  violation: {final.violation}")
    if final.linearizability is not None and final.linearizability.failure is not None:
        print("  " + final.linearizability.failure.explain().replace("\n", "\n  "))
    faults = [item for item in schedule if item.at_ms < run_config.duration_ms]
    if len(faults) <= 12:
        print(
            "  faults: "
            + ("; ".join(f"{i.at_ms} ms {describe(i.fault)}" for i in faults) or "none")
        )
    print(f"  replay:  pyconsensus sim --replay {replay_path}")
    print(f"  picture: {html_path}")


def _run_replay(args: argparse.Namespace) -> int:
    replay = loads(Path(args.replay).read_text())
    result = run_replay(replay, trace=bool(args.html))
    print(
        f"replay of {replay.protocol} seed {replay.seed} ({len(replay.schedule)} scheduled faults)"
    )
    if replay.note:
        print(f"note: {replay.note}")
    if result.violation is None:
        print("no violation: the run passed")
    else:
        print(f"violation: {result.violation}")
        if result.linearizability is not None and result.linearizability.failure is not None:
            print(result.linearizability.failure.explain())
    if replay.violation is not None:
        same = result.violation == replay.violation
        print("reproduced exactly" if same else f"recorded violation was: {replay.violation}")
    if args.html:
        _write_picture(Path(args.html), result, args.window)
        print(f"picture: {args.html}")
    return 0 if result.ok else 1


def _write_picture(path: Path, result: RunResult, window: str | None) -> None:
    trace = result.trace
    assert trace is not None
    start, end = _window(trace, window)
    notes = f"seed {result.seed}; virtual time {result.end_ms} ms"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(trace, start_ms=start, end_ms=end, notes=notes))


def _window(trace: Trace, window: str | None) -> tuple[int | None, int | None]:
    if window:
        return _pair(window, "--window")
    if trace.violation is not None and trace.end_ms > 3_000:
        # A long run is too wide to read whole: show what led up to the violation.
        at = trace.violation.time_ms
        return max(0, at - 1_500), at + 300
    return None, None
