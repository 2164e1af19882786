"""``check_determinism``: the same committed log must give every replica the same state.

A replicated state machine is only as consistent as its ``apply`` is
deterministic: replicas apply the same commands in the same order, and if
one of them answers or ends up differently, clients see different worlds
depending on which node they ask. The check runs the commands through
fresh machines - one straight through, one again, one that is snapshotted and
restored into a new instance at random points - and compares every answer and
a digest of the state after every command. The first difference is reported
with its log position and the usual culprits.

Within one process a ``set`` of strings iterates the same way every time;
across processes it does not (hash randomisation). ``pyconsensus.cli.
hashseeds.check_across_hash_seeds`` repeats the run in child processes with
different ``PYTHONHASHSEED`` values to catch that too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from random import Random

import attrs

from pyconsensus.rsm.machine import StateMachine
from pyconsensus.testing.errors import NonDeterministic

MachineFactory = Callable[[], StateMachine]
Digest = Callable[[StateMachine], bytes]

CULPRITS = (
    "usual culprits: iterating a set or dict of strings (hash randomisation differs per "
    "process), reading the wall clock or today's date, an unseeded random generator or fresh "
    "uuids, floating-point sums whose order depends on history (e.g. dict order after "
    "restore), and state that snapshot() leaves out. apply() must depend only on the state "
    "and the command."
)


def snapshot_digest(machine: StateMachine) -> bytes:
    """The default state digest: a hash of ``machine.snapshot()``."""
    return hashlib.sha256(machine.snapshot()).digest()


@attrs.frozen(slots=True)
class Step:
    """What one replica answered to command ``index`` and its state after it."""

    index: int
    result: bytes
    digest: bytes


@attrs.frozen(slots=True)
class DeterminismReport:
    """A passed check: how many commands each replica applied, and where the
    restored replica was rebuilt from a snapshot."""

    commands: int
    restored_after: tuple[int, ...]
    final_digest: bytes


def run_replica(
    machine: MachineFactory,
    commands: Sequence[bytes],
    *,
    restore_after: frozenset[int] = frozenset(),
    digest: Digest = snapshot_digest,
) -> list[Step]:
    """Apply ``commands`` to a fresh machine, recording each answer and state
    digest; after each index in ``restore_after``, move to a fresh instance
    restored from the current one's snapshot."""
    current = machine()
    steps = []
    for index, command in enumerate(commands, start=1):
        result = current.apply(command)
        if index in restore_after:
            restored = machine()
            restored.restore(current.snapshot())
            current = restored
        steps.append(Step(index, result, digest(current)))
    return steps


def first_divergence(left: Sequence[Step], right: Sequence[Step]) -> tuple[Step, Step] | None:
    """The first pair of steps whose answers or digests differ."""
    for a, b in zip(left, right, strict=True):
        if a != b:
            return a, b
    return None


def divergence_message(
    a: Step, b: Step, commands: Sequence[bytes], left: str, right: str
) -> NonDeterministic:
    """The error for replicas ``left`` and ``right`` that diverged at ``a.index``."""
    detail = (
        f"answered {a.result!r} against {b.result!r}"
        if a.result != b.result
        else f"state digests {a.digest.hex()[:16]} against {b.digest.hex()[:16]}"
    )
    return NonDeterministic(
        f"replicas diverged at log index {a.index} (command {commands[a.index - 1]!r}): "
        f"{left} and {right} disagree, {detail}.\n{CULPRITS}",
        index=a.index,
    )


def check_determinism(
    machine: MachineFactory,
    commands: Sequence[bytes],
    *,
    seed: int = 0,
    restores: int = 3,
    digest: Digest = snapshot_digest,
) -> DeterminismReport:
    """Raise ``NonDeterministic`` unless every replica of ``machine()`` answers
    ``commands`` alike and ends each step in the same state.

    ``restores`` snapshot/restore points are drawn from ``Random(seed)``;
    ``digest`` summarises a machine's state (default: a hash of its snapshot -
    give your own if ``snapshot`` is not canonical, e.g. a dict dumped in
    insertion order).
    """
    if not commands:
        raise ValueError("check_determinism needs at least one command")
    rng = Random(seed)
    points = frozenset(rng.sample(range(1, len(commands) + 1), min(restores, len(commands))))
    first = run_replica(machine, commands, digest=digest)
    replicas = (
        ("a second fresh replica", frozenset[int]()),
        (f"a replica restored from snapshots after entries {sorted(points)}", points),
    )
    for name, restore_after in replicas:
        other = run_replica(machine, commands, restore_after=restore_after, digest=digest)
        found = first_divergence(first, other)
        if found is not None:
            raise divergence_message(*found, commands, "a fresh replica", name)
    return DeterminismReport(len(commands), tuple(sorted(points)), first[-1].digest)
