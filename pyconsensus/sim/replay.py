"""Replay files: everything needed to run a failing seed again, exactly.

A replay is JSON (this module only turns it into text and back; the CLI
reads and writes the files)::

    {
      "format": "pyconsensus-replay", "version": 1,
      "protocol": "raft", "options": {"pre_vote": "false"},
      "seed": 17,
      "config": {...RunConfig fields...},
      "schedule": [{"at_ms": 120, "fault": {"type": "Crash", "node": 2}}, ...],
      "violation": {"property": "...", "detail": "...", "time_ms": 812, "step": 4410}
    }

The run is deterministic given protocol, options, seed, config and schedule, so
``run_replay`` reproduces it step for step - including a schedule that was
shrunk, which no longer matches the seed's random one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.sim.checker import Violation
from pyconsensus.sim.faults import Scheduled, schedule_from_json, schedule_to_json
from pyconsensus.sim.network import NetworkConfig
from pyconsensus.sim.specs import ProtocolSpec, get_spec
from pyconsensus.sim.sweep import RunConfig, RunResult, WorkloadFactory, run_seed

FORMAT = "pyconsensus-replay"
VERSION = 1


@attrs.frozen(slots=True)
class Replay:
    """One reproducible run."""

    protocol: str
    seed: int
    config: RunConfig
    schedule: tuple[Scheduled, ...]
    options: Mapping[str, str] = attrs.field(factory=dict)
    violation: Violation | None = None
    note: str = ""
    """Free text for people (e.g. how the schedule was shrunk)."""

    def spec(self) -> ProtocolSpec:
        """The registered protocol, tuned with ``options``."""
        return get_spec(self.protocol).with_options(self.options)


def config_to_json(config: RunConfig) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in attrs.fields(RunConfig):
        value = getattr(config, field.name)
        if isinstance(value, NetworkConfig):
            value = attrs.asdict(value)
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        data[field.name] = value
    return data


def config_from_json(data: Mapping[str, Any]) -> RunConfig:
    fields = {f.name for f in attrs.fields(RunConfig)}
    unknown = set(data) - fields
    if unknown:
        raise ConfigError(f"replay has unknown run settings {sorted(unknown)}")
    values = dict(data)
    try:
        if "network" in values:
            values["network"] = NetworkConfig(**values["network"])
        if "faults" in values:
            values["faults"] = frozenset(values["faults"])
        if "nemesis" in values:
            values["nemesis"] = tuple(values["nemesis"])
        return RunConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"bad run settings in replay: {exc}") from None


def dumps(replay: Replay) -> str:
    """The replay as JSON text."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "protocol": replay.protocol,
        "options": dict(replay.options),
        "seed": replay.seed,
        "config": config_to_json(replay.config),
        "schedule": schedule_to_json(replay.schedule),
    }
    if replay.violation is not None:
        data["violation"] = attrs.asdict(replay.violation)
    if replay.note:
        data["note"] = replay.note
    return json.dumps(data, indent=1) + "\n"


def loads(text: str) -> Replay:
    """Parse a replay; ``ConfigError`` says what is wrong with it."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"not a replay file: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError("not a pyconsensus replay file")
    if data.get("version") != VERSION:
        raise ConfigError(f"replay version {data.get('version')!r} is not supported")
    violation = None
    if isinstance(data.get("violation"), dict):
        violation = Violation(**data["violation"])
    seed = data.get("seed")
    protocol = data.get("protocol")
    if not isinstance(seed, int) or not isinstance(protocol, str):
        raise ConfigError("replay lacks a protocol name or an integer seed")
    options = data.get("options") or {}
    return Replay(
        protocol=protocol,
        seed=seed,
        config=config_from_json(data.get("config") or {}),
        schedule=schedule_from_json(data.get("schedule") or []),
        options={str(k): str(v) for k, v in options.items()},
        violation=violation,
        note=str(data.get("note", "")),
    )


def run_replay(
    replay: Replay,
    spec: ProtocolSpec | None = None,
    *,
    workload: WorkloadFactory | None = None,
    trace: bool = False,
) -> RunResult:
    """Run the replay again. ``spec`` overrides the registered protocol (for
    variants that are not registered, such as test mutants)."""
    spec = spec if spec is not None else replay.spec()
    return run_seed(
        spec, replay.seed, replay.config, replay.schedule, workload=workload, trace=trace
    )
