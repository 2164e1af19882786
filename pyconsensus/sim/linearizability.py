"""Linearizability checking of client histories (Wing & Gong, with Lowe's memoisation).

A history is linearizable if every operation can be given a point in time
between its invocation and its completion such that, taken in that order, the
operations are legal for the sequential ``Model`` and return what they
returned. The search:

- tries, depth first, every operation that may come next (one invoked before
  the earliest completion among the operations not yet placed), the one that
  completed first first;
- remembers every ``(set of placed operations, model state)`` it has seen and
  never explores one twice (Lowe's cache) - this is what makes it fast;
- is run separately for each part of the history that the model declares
  independent (P-compositionality: per key for a key-value store), since a
  history is linearizable iff each of its parts is;
- treats an indeterminate (``info``) operation as completing at infinity: it
  may take effect at any time after its invocation, or never (placing it
  after everything else changes nothing anyone observed). Failed operations
  and indeterminate reads have no effect and are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Protocol

import attrs

from pyconsensus.sim.history import FAIL, INFO, OK, Operation

_INF = 1 << 62


class Model(Protocol):
    """A sequential specification for the checker."""

    def init(self) -> Hashable:
        """The initial state (hashable: states are cached)."""
        ...

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        """Apply ``op`` to ``state``: ``(legal, next state)``. For an ``info``
        operation the output is unknown, so any output must be accepted."""
        ...

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        """Split ``ops`` into independent sub-histories (or return ``[list(ops)]``)."""
        ...

    def read_only(self, op: Operation) -> bool:
        """Whether ``op`` never changes the state (such ops are dropped when indeterminate)."""
        ...

    def describe(self, state: Hashable) -> str:
        """A state, for people."""
        ...


class KVModel:
    """A map of independent registers, one per key, supporting the operations of
    ``pyconsensus.rsm.kv``: ``put(value)``, ``get() -> value | None``,
    ``append(suffix)`` and ``cas((expected, new)) -> swapped``."""

    def init(self) -> Hashable:
        return None

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        f = op.f
        if f == "get":
            return op.output == state, state
        if f == "put":
            return True, op.input
        if f == "append":
            assert isinstance(op.input, bytes) and (state is None or isinstance(state, bytes))
            return True, (state or b"") + op.input
        if f == "cas":
            assert isinstance(op.input, tuple)
            expected, new = op.input
            matches = state == expected
            if op.status == INFO:
                return True, new if matches else state
            if op.output:
                return matches, new
            return not matches, state
        raise ValueError(f"the key-value model has no operation {f!r}")

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        return by_key(ops)

    def read_only(self, op: Operation) -> bool:
        return op.f == "get"

    def describe(self, state: Hashable) -> str:
        if isinstance(state, bytes):
            text = state.decode("ascii", "backslashreplace")
            return repr(text if len(text) <= 40 else "..." + text[-37:])
        return "absent" if state is None else repr(state)


def by_key(ops: Sequence[Operation]) -> list[list[Operation]]:
    """Group operations by ``op.key``, keeping their order."""
    groups: dict[Hashable, list[Operation]] = defaultdict(list)
    for op in ops:
        groups[op.key].append(op)
    return list(groups.values())


@attrs.frozen(slots=True)
class Failure:
    """Why one sub-history is not linearizable: the longest legal prefix the
    search found, the state after it, and the operation that could not be
    placed next (the earliest-completing one still missing)."""

    key: Hashable
    prefix: tuple[Operation, ...]
    state: str
    stuck: Operation
    candidates: tuple[Operation, ...]

    def explain(self) -> str:
        lines = [
            f"key {self.key!r}: no linearization exists.",
            f"  longest legal order found places {len(self.prefix)} operations, ending with:",
        ]
        lines.extend(f"    {op.describe()}" for op in self.prefix[-5:])
        lines.append(f"  state then: {self.state}")
        lines.append(f"  cannot place next: {self.stuck.describe()}")
        others = [op for op in self.candidates if op.id != self.stuck.id]
        if others:
            lines.append("  other candidates, none legal either:")
            lines.extend(f"    {op.describe()}" for op in others[:6])
        return "\n".join(lines)


@attrs.frozen(slots=True)
class LinearizabilityResult:
    """``valid`` is True, False, or None when the search budget ran out."""

    valid: bool | None
    operations: int
    partitions: int
    explored: int
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.valid is not False


def check(
    ops: Sequence[Operation], model: Model | None = None, max_explored: int = 5_000_000
) -> LinearizabilityResult:
    """Check a history. ``max_explored`` bounds the search states per sub-history;
    beyond it the answer is ``valid=None`` (unknown), never a false verdict."""
    model = model if model is not None else KVModel()
    relevant = [
        op for op in ops if op.status == OK or (op.status == INFO and not model.read_only(op))
    ]
    if any(op.status not in (OK, INFO, FAIL) for op in ops):
        raise ValueError("unknown operation status in history")
    explored = 0
    unknown = False
    parts = model.partition(relevant)
    for part in parts:
        valid, count, failure = _check_part(part, model, max_explored)
        explored += count
        if valid is False:
            return LinearizabilityResult(False, len(relevant), len(parts), explored, failure)
        if valid is None:
            unknown = True
    return LinearizabilityResult(None if unknown else True, len(relevant), len(parts), explored)


def _check_part(
    part: Sequence[Operation], model: Model, budget: int
) -> tuple[bool | None, int, Failure | None]:
    ops = sorted(part, key=lambda op: op.invoke)
    n = len(ops)
    if n == 0:
        return True, 0, None
    head = n  # sentinel of both lists
    invoke = [op.invoke for op in ops]
    ret = [op.complete if op.status == OK and op.complete is not None else _INF for op in ops]
    is_ok = [op.status == OK for op in ops]
    # Unplaced operations in invocation order...
    cnext = [*range(1, n + 1), 0]
    cprev = [n, *range(n)]
    # ...and unplaced ok operations in completion order.
    by_return = sorted((i for i in range(n) if is_ok[i]), key=lambda i: ret[i])
    rnext = [head] * (n + 1)
    rprev = [head] * (n + 1)
    previous = head
    for i in by_return:
        rnext[previous] = i
        rprev[i] = previous
        previous = i
    rnext[previous] = head
    rprev[head] = previous

    def candidates() -> list[int]:
        first_return = rnext[head]
        limit = ret[first_return] if first_return != head else _INF
        found = []
        j = cnext[head]
        while j != head and invoke[j] < limit:
            found.append(j)
            j = cnext[j]
        # Earliest completion first: the operation that must be placed soonest
        # is the likeliest to fit now. Indeterminate ones (completing at
        # infinity) come last: they may always wait, or never happen.
        found.sort(key=ret.__getitem__)
        return found

    def lift(j: int) -> None:
        cnext[cprev[j]] = cnext[j]
        cprev[cnext[j]] = cprev[j]
        if is_ok[j]:
            rnext[rprev[j]] = rnext[j]
            rprev[rnext[j]] = rprev[j]

    def unlift(j: int) -> None:
        cnext[cprev[j]] = j
        cprev[cnext[j]] = j
        if is_ok[j]:
            rnext[rprev[j]] = j
            rprev[rnext[j]] = j

    step = model.step
    state: Hashable = model.init()
    placed = 0  # bit set of placed operations
    remaining = sum(is_ok)
    cache: set[tuple[int, Hashable]] = set()
    stack: list[tuple[list[int], int, Hashable, int]] = []
    cands = candidates()
    pos = 0
    explored = 0
    best_depth = -1
    best: tuple[list[int], Hashable, list[int], int] = ([], state, cands, rnext[head])
    while remaining:
        advanced = False
        while pos < len(cands):
            j = cands[pos]
            pos += 1
            legal, next_state = step(state, ops[j])
            if not legal:
                continue
            next_placed = placed | (1 << j)
            memo = (next_placed, next_state)
            if memo in cache:
                continue
            cache.add(memo)
            explored += 1
            if explored > budget:
                return None, explored, None
            stack.append((cands, pos, state, j))
            lift(j)
            placed = next_placed
            state = next_state
            remaining -= is_ok[j]
            cands = candidates()
            pos = 0
            advanced = True
            break
        if advanced:
            continue
        if len(stack) > best_depth:
            best_depth = len(stack)
            best = ([frame[3] for frame in stack], state, cands, rnext[head])
        if not stack:
            path, best_state, best_cands, stuck = best
            failure = Failure(
                key=ops[0].key,
                prefix=tuple(ops[i] for i in path),
                state=model.describe(best_state),
                stuck=ops[stuck] if stuck != head else ops[best_cands[0]],
                candidates=tuple(ops[i] for i in best_cands),
            )
            return False, explored, failure
        cands, pos, state, j = stack.pop()
        unlift(j)
        placed ^= 1 << j
        remaining += is_ok[j]
    return True, explored, None
