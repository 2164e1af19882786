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
- places a legal operation that changes nothing (a read) at once, without
  trying alternatives: nothing can depend on when it happens;
- is run separately for each part of the history that the model declares
  independent (P-compositionality: per key for a key-value store), since a
  history is linearizable iff each of its parts is;
- treats an indeterminate (``info``) operation as completing at infinity: it
  may take effect at any time after its invocation, or never (placing it
  after everything else changes nothing anyone observed). If the history
  knows a deadline for it (``Operation.deadline``: session clients know when
  a late copy can no longer apply), it must take effect before that, or be
  dropped. Failed operations and indeterminate reads have no effect and are
  left out.
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
        """Whether ``op`` (with its recorded outcome) never changes the state.
        Such operations are dropped when indeterminate, and placed as soon as
        they are legal (which is always safe: nothing depends on when)."""
        ...

    def describe(self, state: Hashable) -> str:
        """A state, for people."""
        ...


class KVModel:
    """A map of independent registers, one per key, supporting the operations of
    ``pyconsensus.rsm.kv``: ``put(value)``, ``get() -> value | None``,
    ``append(suffix)``, ``cas((expected, new)) -> swapped``, ``delete() ->
    existed`` and ``range() -> value | None`` (a range scan of one key's
    interval: ranges over several keys would span independent registers)."""

    def init(self) -> Hashable:
        return None

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        f = op.f
        if f in ("get", "range"):
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
        if f == "delete":
            return op.status == INFO or op.output == (state is not None), None
        raise ValueError(f"the key-value model has no operation {f!r}")

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        return by_key(ops)

    def read_only(self, op: Operation) -> bool:
        # A compare-and-set known to have failed, or a delete of an absent
        # key, changed nothing either.
        return op.f in ("get", "range") or (
            op.f in ("cas", "delete") and op.status == OK and op.output is False
        )

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
    ops: Sequence[Operation], model: Model | None = None, max_explored: int = 1_000_000
) -> LinearizabilityResult:
    """Check a history. ``max_explored`` bounds the search states per sub-history
    (and so its memory, roughly 150 bytes a state); beyond it the answer is
    ``valid=None`` (unknown), never a false verdict."""
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


def _check_part(  # noqa: C901 - the search loop and its pruning read best as one
    part: Sequence[Operation], model: Model, budget: int
) -> tuple[bool | None, int, Failure | None]:
    ops = sorted(part, key=lambda op: op.invoke)
    n = len(ops)
    if n == 0:
        return True, 0, None
    head = n  # sentinel of both lists
    invoke = [op.invoke for op in ops]
    is_ok = [op.status == OK for op in ops]
    # An indeterminate operation with a deadline must be placed before it, or dropped.
    bounded = [op.status == INFO and op.deadline is not None for op in ops]
    ret = [_return_of(op) for op in ops]
    returns = [ok or b for ok, b in zip(is_ok, bounded, strict=True)]
    read_only = [model.read_only(op) for op in ops]
    # Try order: ok operations where the system says they took effect (if it
    # says so for all of them), else by completion; indeterminate ones last.
    hinted = all(op.index is not None for op, ok in zip(ops, is_ok, strict=True) if ok)
    order = [
        (not ok, 2 * op.index + ro if ok and hinted and op.index is not None else 0, r)
        for op, ok, ro, r in zip(ops, is_ok, read_only, ret, strict=True)
    ]
    # Unplaced operations in invocation order...
    cnext = [*range(1, n + 1), 0]
    cprev = [n, *range(n)]
    # ...and those that must be settled by some time, in that order.
    by_return = sorted((i for i in range(n) if returns[i]), key=lambda i: ret[i])
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
        # The order the system claims, or earliest completion first (what must
        # be placed soonest is likeliest to fit now). Indeterminate operations
        # come last: they may always wait, or never happen.
        found.sort(key=order.__getitem__)
        if first_return != head and bounded[first_return]:
            # Its deadline is the next to pass. Had it taken effect where
            # anyone saw it, it would have been placed by now: first try
            # "it never happened", then "it happened here".
            found.insert(0, ~first_return)
        return found

    def lift(j: int) -> None:
        cnext[cprev[j]] = cnext[j]
        cprev[cnext[j]] = cprev[j]
        if returns[j]:
            rnext[rprev[j]] = rnext[j]
            rprev[rnext[j]] = rprev[j]

    def unlift(j: int) -> None:
        cnext[cprev[j]] = j
        cprev[cnext[j]] = j
        if returns[j]:
            rnext[rprev[j]] = j
            rprev[rnext[j]] = j

    step = model.step
    state: Hashable = model.init()
    placed = 0  # bit set of placed operations
    remaining = sum(is_ok)
    cache: set[tuple[int, int, Hashable]] = set()
    interned: dict[Hashable, Hashable] = {}  # equal states share one object
    stack: list[tuple[list[int], int, Hashable, int]] = []
    cands = candidates()
    pos = 0
    explored = 0
    best_depth = -1
    best: tuple[list[int], Hashable, list[int], int] = ([], state, cands, rnext[head])
    while remaining:
        advanced = False
        if pos == 0:
            # A legal operation that changes nothing (a read) can be placed at
            # once, with no alternatives to try: placing it later could only
            # be worse. This keeps reads from multiplying the search.
            for j in cands:
                if j >= 0 and read_only[j] and step(state, ops[j])[0]:
                    pos = len(cands)
                    cands = [*cands, j]
                    break
        while pos < len(cands):
            action = cands[pos]
            pos += 1
            if action < 0:  # drop an indeterminate operation whose deadline came
                j = ~action
                legal, next_state = True, state
            else:
                j = action
                legal, next_state = step(state, ops[j])
            if not legal:
                continue
            next_placed = placed | (1 << j)
            next_state = interned.setdefault(next_state, next_state)
            # The placed set is almost always a run of ones (every operation up
            # to some point) plus a few bits: key it as (run length, the rest),
            # which keeps the cache small on long histories.
            run = (~next_placed & (next_placed + 1)).bit_length() - 1
            memo = (run, next_placed >> run, next_state)
            if memo in cache:
                continue
            cache.add(memo)
            explored += 1
            if explored > budget:
                return None, explored, None
            stack.append((cands, pos, state, action))
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
            due = rnext[head]
            while due != head and not is_ok[due]:  # the first ok one is what got stuck
                due = rnext[due]
            best = ([frame[3] for frame in stack], state, cands, due)
        if not stack:
            path, best_state, best_cands, stuck = best
            placeable = [i for i in best_cands if i >= 0]
            failure = Failure(
                key=ops[0].key,
                prefix=tuple(ops[i] for i in path if i >= 0),
                state=model.describe(best_state),
                stuck=ops[stuck] if stuck != head else ops[placeable[0]],
                candidates=tuple(ops[i] for i in placeable),
            )
            return False, explored, failure
        cands, pos, state, action = stack.pop()
        j = action if action >= 0 else ~action
        unlift(j)
        placed ^= 1 << j
        remaining += is_ok[j]
    return True, explored, None


def _return_of(op: Operation) -> int:
    """When ``op`` must have taken effect by, as a position in the event order."""
    if op.status == OK and op.complete is not None:
        return op.complete
    if op.deadline is not None:
        return op.deadline
    return _INF
