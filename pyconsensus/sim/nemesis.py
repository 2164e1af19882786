"""Nemesis schedules: composable, seeded fault schedules.

A *nemesis* is one kind of trouble - a partition shape, a crash pattern, a
network storm, a slow clock. Each draws *episodes*: a fault at some time and,
where it makes sense, its undo a while later. ``nemesis_schedule`` mixes the
chosen nemeses over a run, optionally with healing periods in between, and
always heals everything at the end. The result is plain data (a tuple of
``Scheduled``), so it can be saved, replayed and shrunk.

Names can be single nemeses or families::

    partitions  split, bridge, one-way, isolate-leader
    crashes     crash-one, crash-majority, crash-leader, crash-mid-write
    loss        storm (loss, duplication, reordering)
    skew        slow (one node's clock runs fast or slow)
    elections   clock-jump (every node's timers expire at once: contested elections)

and, chosen only by name (``all`` does not include it, since only some
protocols can change their membership)::

    membership  add, remove, replace, promote members and transfer leadership
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from random import Random

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.types import NodeId
from pyconsensus.sim.faults import (
    Bridge,
    ChangeMembership,
    ClockJump,
    Crash,
    CrashLeader,
    CrashMidWrite,
    Fault,
    Heal,
    IsolateLeader,
    OneWay,
    Partition,
    Restart,
    RestartAll,
    Scheduled,
    SetNetwork,
    Skew,
    heal_everything,
)

Episode = Callable[[Random, list[NodeId], int, int], list[Scheduled]]
"""``(rng, members, start_ms, length_ms) -> scheduled faults`` of one episode."""


def _split(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    """A random majority/minority partition."""
    shuffled = members[:]
    rng.shuffle(shuffled)
    cut = rng.randint(1, max(1, (len(members) - 1) // 2))
    groups = (tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:])))
    return [Scheduled(start, Partition(groups)), Scheduled(start + length, Heal())]


def _bridge(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    """Two halves that reach each other only through one bridge node."""
    if len(members) < 3:
        return _split(rng, members, start, length)
    shuffled = members[:]
    rng.shuffle(shuffled)
    bridge, rest = shuffled[0], shuffled[1:]
    half = len(rest) // 2
    fault = Bridge(tuple(sorted(rest[:half])), bridge, tuple(sorted(rest[half:])))
    return [Scheduled(start, fault), Scheduled(start + length, Heal())]


def _one_way(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    """One link, or everything one node sends, is lost; the reverse still flows."""
    if len(members) < 2:
        return []
    src = rng.choice(members)
    others = [m for m in members if m != src]
    targets = others if rng.random() < 0.5 else [rng.choice(others)]
    faults = [Scheduled(start, OneWay(src, dst)) for dst in targets]
    return [*faults, Scheduled(start + length, Heal())]


def _isolate_leader(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    companions = rng.randint(0, max(0, (len(members) - 1) // 2))
    return [Scheduled(start, IsolateLeader(companions)), Scheduled(start + length, Heal())]


def _crash_one(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    node = rng.choice(members)
    return [Scheduled(start, Crash(node)), Scheduled(start + length, Restart(node))]


def _crash_majority(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    """A majority goes down at once: no progress until enough come back."""
    shuffled = members[:]
    rng.shuffle(shuffled)
    down = sorted(shuffled[: len(members) // 2 + 1])
    restarts = []
    for node in down:  # they come back one by one
        back = start + length + rng.randint(0, max(1, length // 4))
        restarts.append(Scheduled(back, Restart(node)))
    return [*(Scheduled(start, Crash(node)) for node in down), *restarts]


def _crash_leader(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    return [Scheduled(start, CrashLeader()), Scheduled(start + length, RestartAll())]


def _crash_mid_write(
    rng: Random, members: list[NodeId], start: int, length: int
) -> list[Scheduled]:
    node = rng.choice(members)
    return [Scheduled(start, CrashMidWrite(node)), Scheduled(start + length, Restart(node))]


def _storm(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    storm = SetNetwork(
        loss=round(rng.uniform(0.05, 0.4), 2),
        duplicate=round(rng.uniform(0.0, 0.25), 2),
        reorder=rng.random() < 0.6,
    )
    return [Scheduled(start, storm), Scheduled(start + length, SetNetwork())]


def _slow(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    node = rng.choice(members)
    percent = rng.choice((25, 50, 200, 400))
    return [Scheduled(start, Skew(node, percent)), Scheduled(start + length, Skew(node, 100))]


def _clock_jump(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    """Every node's clock leaps past any election timeout at the same instant."""
    return [Scheduled(start, ClockJump(tuple(members), rng.randint(20, 40)))]


MEMBERSHIP_KINDS = ("add-learner", "add-voter", "promote", "remove", "replace", "transfer")


def _membership(rng: Random, members: list[NodeId], start: int, length: int) -> list[Scheduled]:
    """A few membership changes or leadership transfers during the episode."""
    return [
        Scheduled(start + rng.randint(0, length), ChangeMembership(kind, rng.randrange(1 << 16)))
        for kind in rng.choices(MEMBERSHIP_KINDS, k=rng.randint(2, 6))
    ]


NEMESES: dict[str, Episode] = {
    "split": _split,
    "bridge": _bridge,
    "one-way": _one_way,
    "isolate-leader": _isolate_leader,
    "crash-one": _crash_one,
    "crash-majority": _crash_majority,
    "crash-leader": _crash_leader,
    "crash-mid-write": _crash_mid_write,
    "storm": _storm,
    "slow": _slow,
    "clock-jump": _clock_jump,
}
"""Every single nemesis, by name."""

OPT_IN: dict[str, Episode] = {"membership": _membership}
"""Nemeses that only a name selects (not ``all``)."""

FAMILIES: dict[str, tuple[str, ...]] = {
    "partitions": ("split", "bridge", "one-way", "isolate-leader"),
    "crashes": ("crash-one", "crash-majority", "crash-leader", "crash-mid-write"),
    "loss": ("storm",),
    "skew": ("slow",),
    "elections": ("clock-jump",),
}
"""Families of nemeses, by name (``all`` selects every family)."""


def expand(names: Collection[str]) -> tuple[str, ...]:
    """Single nemesis names for ``names`` (families and ``all`` expanded),
    in a fixed order; raises ``ConfigError`` for unknown names."""
    chosen: set[str] = set()
    for name in names:
        if name == "all":
            chosen.update(NEMESES)
        elif name in FAMILIES:
            chosen.update(FAMILIES[name])
        elif name in NEMESES or name in OPT_IN:
            chosen.add(name)
        elif name != "none":
            known = ", ".join([*FAMILIES, *NEMESES, *OPT_IN])
            raise ConfigError(f"unknown nemesis {name!r}; choose from all, none, {known}")
    return tuple(n for n in [*NEMESES, *OPT_IN] if n in chosen)


def parse(text: str) -> tuple[str, ...]:
    """``"partitions,crashes,loss"`` -> the single nemeses it selects."""
    return expand([part.strip() for part in text.split(",") if part.strip()])


def nemesis_schedule(
    rng: Random,
    members: Sequence[NodeId],
    duration_ms: int,
    nemeses: Collection[str],
    *,
    mean_gap_ms: int = 400,
    heal_every_ms: int = 0,
    heal_for_ms: int = 0,
) -> tuple[Scheduled, ...]:
    """A random schedule over ``duration_ms`` drawing episodes of ``nemeses``.

    An episode starts every ``mean_gap_ms`` on average and lasts between half
    and three times that. With ``heal_every_ms``, the last ``heal_for_ms`` of
    every such period is a healing period: everything heals at its start and
    no episode runs through it. Everything heals at ``duration_ms``.
    """
    chosen = expand(nemeses)
    if heal_every_ms and not 0 < heal_for_ms < heal_every_ms:
        raise ConfigError("need 0 < heal_for_ms < heal_every_ms for healing periods")
    members = list(members)
    events: list[Scheduled] = []

    def calm_from(t: int) -> int:
        """Start of the first healing period at or after ``t`` (or the end)."""
        if not heal_every_ms:
            return duration_ms
        period_end = (t // heal_every_ms + 1) * heal_every_ms
        return min(duration_ms, period_end - heal_for_ms)

    if heal_every_ms:
        for end in range(heal_every_ms, duration_ms, heal_every_ms):
            events.extend(Scheduled(end - heal_for_ms, f) for f in heal_everything(members))
    if chosen:
        t = rng.randint(0, mean_gap_ms)
        while t < duration_ms:
            calm = calm_from(t)
            if t >= calm:  # inside a healing period: resume after it
                t = (t // heal_every_ms + 1) * heal_every_ms
                continue
            name = rng.choice(chosen)
            length = rng.randint(mean_gap_ms // 2, mean_gap_ms * 3)
            length = max(1, min(length, calm - t))
            episode = NEMESES[name] if name in NEMESES else OPT_IN[name]
            for item in episode(rng, members, t, length):
                events.append(item if item.at_ms <= calm else Scheduled(calm, item.fault))
            t += rng.randint(mean_gap_ms // 2, mean_gap_ms * 3 // 2)
    events = [e for e in events if e.at_ms < duration_ms]
    events.extend(Scheduled(duration_ms, fault) for fault in heal_everything(members))
    events.sort(key=lambda e: e.at_ms)
    return tuple(events)


def describe(fault: Fault) -> str:
    """A short label for a fault (for reports and pictures)."""
    if isinstance(fault, Partition):
        return "partition " + " | ".join(",".join(map(str, g)) for g in fault.groups)
    if isinstance(fault, Bridge):
        left = ",".join(map(str, fault.left))
        right = ",".join(map(str, fault.right))
        return f"bridge {left} <{fault.bridge}> {right}"
    if isinstance(fault, OneWay):
        return f"one-way {fault.src}->{fault.dst}"
    if isinstance(fault, IsolateLeader):
        return f"isolate leader (+{fault.companions})"
    if isinstance(fault, Crash):
        return f"crash {fault.node}"
    if isinstance(fault, CrashMidWrite):
        return f"crash {fault.node} mid-write"
    if isinstance(fault, CrashLeader):
        return "crash leader"
    if isinstance(fault, Restart):
        return f"restart {fault.node}"
    if isinstance(fault, RestartAll):
        return "restart all"
    if isinstance(fault, Heal):
        return "heal"
    if isinstance(fault, SetNetwork):
        if not (fault.loss or fault.duplicate or fault.reorder):
            return "network calm"
        reorder = ", reorder" if fault.reorder else ""
        return f"storm loss {fault.loss:.0%} dup {fault.duplicate:.0%}{reorder}"
    if isinstance(fault, Skew):
        return f"clock {fault.node} at {fault.percent}%"
    if isinstance(fault, ChangeMembership):
        return f"membership {fault.kind}"
    return f"clock jump {','.join(map(str, fault.nodes))} +{fault.ticks} ticks"
