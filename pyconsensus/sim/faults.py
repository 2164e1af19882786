"""Faults the simulator can inject, and seeded schedules of them.

A schedule is plain data - a tuple of ``Scheduled(at_ms, fault)`` - so it can be
printed, saved, replayed and shrunk.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from random import Random

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.types import NodeId


@attrs.frozen(slots=True)
class Partition:
    """Split the cluster: nodes in different groups cannot talk (both ways)."""

    groups: tuple[tuple[NodeId, ...], ...]


@attrs.frozen(slots=True)
class IsolateLeader:
    """Partition the current leader, with ``companions`` other nodes, from the
    rest: the leader keeps accepting proposals it can no longer commit."""

    companions: int = 0


@attrs.frozen(slots=True)
class OneWay:
    """Drop every message from ``src`` to ``dst`` (the reverse still flows)."""

    src: NodeId
    dst: NodeId


@attrs.frozen(slots=True)
class Bridge:
    """Split the cluster in two halves that cannot talk, except through
    ``bridge``, which reaches both (it is in neither group). Both halves may
    see a majority through the bridge."""

    left: tuple[NodeId, ...]
    bridge: NodeId
    right: tuple[NodeId, ...]


@attrs.frozen(slots=True)
class Heal:
    """Remove every partition and one-way block."""


@attrs.frozen(slots=True)
class Crash:
    """Stop ``node``; what it wrote but did not sync is lost."""

    node: NodeId


@attrs.frozen(slots=True)
class CrashLeader:
    """Crash whichever node currently leads (nothing happens if none does)."""


@attrs.frozen(slots=True)
class CrashMidWrite:
    """Crash ``node`` during its next durable write: the write is staged but
    never synced, and the batch's messages are never sent."""

    node: NodeId


@attrs.frozen(slots=True)
class Restart:
    """Start ``node`` again from its storage (nothing happens if it is up)."""

    node: NodeId


@attrs.frozen(slots=True)
class RestartAll:
    """Restart every crashed node."""


@attrs.frozen(slots=True)
class SetNetwork:
    """Change loss/duplication probabilities and reordering from now on."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: bool = False


@attrs.frozen(slots=True)
class Skew:
    """Make ``node``'s clock tick every ``percent``/100 of the normal interval."""

    node: NodeId
    percent: int = 100


@attrs.frozen(slots=True)
class ClockJump:
    """The clocks of ``nodes`` leap ``ticks`` ticks ahead at the same instant,
    as after a pause: their election timers expire together and they campaign
    at once - contested elections and split votes."""

    nodes: tuple[NodeId, ...]
    ticks: int


@attrs.frozen(slots=True)
class ChangeMembership:
    """Ask the current leader for a membership change of ``kind`` (``add-learner``,
    ``add-voter``, ``promote``, ``remove``, ``replace``) or a leadership
    ``transfer``; ``pick`` chooses the nodes it concerns among those that fit
    at that moment (see ``pyconsensus.sim.membership``)."""

    kind: str
    pick: int


Fault = (
    Partition
    | IsolateLeader
    | OneWay
    | Bridge
    | ClockJump
    | Heal
    | Crash
    | CrashLeader
    | CrashMidWrite
    | Restart
    | RestartAll
    | SetNetwork
    | Skew
    | ChangeMembership
)


@attrs.frozen(slots=True)
class Scheduled:
    """``fault`` happens ``at_ms`` milliseconds of virtual time into the run."""

    at_ms: int
    fault: Fault


FAULT_KINDS = ("partitions", "crashes", "loss", "skew")


def heal_everything(members: Sequence[NodeId]) -> list[Fault]:
    """The faults that undo every other fault."""
    faults: list[Fault] = [Heal(), RestartAll(), SetNetwork()]
    faults.extend(Skew(node, 100) for node in members)
    return faults


def random_schedule(
    rng: Random,
    members: Sequence[NodeId],
    duration_ms: int,
    kinds: Collection[str] = FAULT_KINDS,
    mean_gap_ms: int = 400,
) -> tuple[Scheduled, ...]:
    """A random fault schedule over ``duration_ms``, healed at its end.

    ``kinds`` picks from ``FAULT_KINDS``. Faults arrive every ``mean_gap_ms`` on
    average and each lasts a random while before it is undone.
    """
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise ConfigError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
    chosen = [k for k in FAULT_KINDS if k in kinds]
    events: list[Scheduled] = []
    if chosen:
        t = rng.randint(0, mean_gap_ms)
        while t < duration_ms:
            kind = rng.choice(chosen)
            length = rng.randint(mean_gap_ms // 2, mean_gap_ms * 3)
            events.extend(_one_fault(rng, kind, list(members), t, length))
            t += rng.randint(mean_gap_ms // 2, mean_gap_ms * 3 // 2)
    events = [e for e in events if e.at_ms < duration_ms]
    events.extend(Scheduled(duration_ms, fault) for fault in heal_everything(members))
    events.sort(key=lambda e: e.at_ms)
    return tuple(events)


def _one_fault(
    rng: Random, kind: str, members: list[NodeId], start: int, length: int
) -> list[Scheduled]:
    end = start + length
    if kind == "partitions":
        shuffled = members[:]
        rng.shuffle(shuffled)
        roll = rng.random()
        if roll < 0.4:
            companions = rng.randint(0, max(0, (len(members) - 1) // 2))
            return [Scheduled(start, IsolateLeader(companions)), Scheduled(end, Heal())]
        if roll < 0.55 and len(members) > 1:
            src, dst = shuffled[0], shuffled[1]
            return [Scheduled(start, OneWay(src, dst)), Scheduled(end, Heal())]
        cut = rng.randint(1, max(1, len(members) // 2))
        groups = (tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:])))
        return [Scheduled(start, Partition(groups)), Scheduled(end, Heal())]
    if kind == "crashes":
        roll = rng.random()
        if roll < 0.3:
            return [Scheduled(start, CrashLeader()), Scheduled(end, RestartAll())]
        node = rng.choice(members)
        crash: Crash | CrashMidWrite = CrashMidWrite(node) if roll < 0.5 else Crash(node)
        return [Scheduled(start, crash), Scheduled(end, Restart(node))]
    if kind == "loss":
        storm = SetNetwork(
            loss=round(rng.uniform(0.05, 0.4), 2),
            duplicate=round(rng.uniform(0.0, 0.2), 2),
            reorder=rng.random() < 0.5,
        )
        return [Scheduled(start, storm), Scheduled(end, SetNetwork())]
    # skew
    node = rng.choice(members)
    percent = rng.choice((25, 50, 200, 400))
    return [Scheduled(start, Skew(node, percent)), Scheduled(end, Skew(node, 100))]


# -- serialization ---------------------------------------------------------

FAULT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Partition,
        IsolateLeader,
        OneWay,
        Bridge,
        ClockJump,
        Heal,
        Crash,
        CrashLeader,
        CrashMidWrite,
        Restart,
        RestartAll,
        SetNetwork,
        Skew,
        ChangeMembership,
    )
}


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _tupled(value: object) -> object:
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


def fault_to_json(fault: Fault) -> dict[str, object]:
    """A fault as a JSON-ready dict: ``{"type": "Crash", "node": 2}``."""
    data: dict[str, object] = {"type": type(fault).__name__}
    for field in attrs.fields(type(fault)):
        data[field.name] = _plain(getattr(fault, field.name))
    return data


def fault_from_json(data: dict[str, object]) -> Fault:
    """The fault ``fault_to_json`` described; ``ConfigError`` if it is not one."""
    name = data.get("type")
    cls = FAULT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ConfigError(f"unknown fault type {name!r}")
    fields = {k: _tupled(v) for k, v in data.items() if k != "type"}
    try:
        fault: Fault = cls(**fields)
    except TypeError as exc:
        raise ConfigError(f"bad {name} fault {data!r}: {exc}") from None
    return fault


def schedule_to_json(schedule: Sequence[Scheduled]) -> list[dict[str, object]]:
    return [{"at_ms": item.at_ms, "fault": fault_to_json(item.fault)} for item in schedule]


def schedule_from_json(data: Sequence[dict[str, object]]) -> tuple[Scheduled, ...]:
    items = []
    for item in data:
        at = item.get("at_ms")
        fault = item.get("fault")
        if not isinstance(at, int) or not isinstance(fault, dict):
            raise ConfigError(f"bad schedule item {item!r}")
        items.append(Scheduled(at, fault_from_json(fault)))
    return tuple(items)
