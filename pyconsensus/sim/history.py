"""Client histories: every invocation and completion, in the order they happened.

A history is what a linearizability checker reads. Each operation is invoked,
then completes ``ok`` (it took effect, with this output), ``fail`` (it
definitely did not take effect) or never completes: ``info`` - indeterminate,
it may have taken effect at any time after its invocation, or never.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

import attrs

OK = "ok"
FAIL = "fail"
INFO = "info"


@attrs.frozen(slots=True)
class Operation:
    """One client operation.

    ``invoke``/``complete`` are positions in the history's event order (a
    total order of invocations and completions); ``invoke_ms``/``complete_ms``
    are the virtual times, for people. ``complete`` is ``None`` for ``info``.
    """

    id: int
    client: int
    f: str
    key: Hashable
    input: Hashable
    output: Hashable
    status: str
    invoke: int
    complete: int | None
    invoke_ms: int
    complete_ms: int | None
    node: int | None = None
    """The node that answered (or was last tried), for pictures and reports."""
    deadline: int | None = None
    """For an ``info`` operation: a position in the event order before which
    it took effect, if it took effect at all (see ``History.bound``)."""
    index: int | None = None
    """Where the system says an ``ok`` operation took effect (a log index; for
    a read, the index of the state it saw). The checker only uses it to order
    its search - a wrong claim costs time, never a wrong verdict."""

    def describe(self) -> str:
        shown = f"{self.f}({_show(self.key)}"
        if self.input is not None:
            shown += f", {_show(self.input)}"
        shown += ")"
        if self.status == OK:
            shown += f" -> {_show(self.output)}"
        else:
            shown += f" [{self.status}]"
        end = f"{self.complete_ms}" if self.complete_ms is not None else "..."
        where = f" via node {self.node}" if self.node is not None else ""
        return f"#{self.id} client {self.client} {shown} at {self.invoke_ms}-{end}ms{where}"


def _show(value: object) -> str:
    if isinstance(value, bytes):
        text = value.decode("ascii", "backslashreplace")
        return repr(text if len(text) <= 24 else "..." + text[-21:])
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return repr(value)


@attrs.define(slots=True)
class _Open:
    client: int
    f: str
    key: Hashable
    input: Hashable
    invoke: int
    invoke_ms: int
    node: int | None = None


class History:
    """Records operations as they are invoked and completed."""

    def __init__(self) -> None:
        self._events = 0
        self._open: dict[int, _Open] = {}
        self._done: dict[int, Operation] = {}
        self._deadlines: dict[int, int] = {}
        self._next_id = 0

    def __len__(self) -> int:
        return self._next_id

    def invoke(self, client: int, f: str, key: Hashable, input: Hashable, time_ms: int) -> int:
        """Record an invocation; returns the operation's id."""
        op_id = self._next_id
        self._next_id += 1
        self._open[op_id] = _Open(client, f, key, input, self._events, time_ms)
        self._events += 1
        return op_id

    def note_node(self, op_id: int, node: int) -> None:
        """Remember which node the operation was last sent to."""
        pending = self._open.get(op_id)
        if pending is not None:
            pending.node = node

    def complete(
        self,
        op_id: int,
        status: str,
        output: Hashable = None,
        time_ms: int = 0,
        node: int | None = None,
        *,
        index: int | None = None,
    ) -> Operation:
        """Record the completion of ``op_id`` (``ok``, ``fail`` or ``info``).

        Completing as ``info`` records that the client gave up without knowing
        the outcome: the operation stays open forever.
        """
        if status not in (OK, FAIL, INFO):
            raise ValueError(f"unknown status {status!r}")
        pending = self._open.pop(op_id)
        final = status != INFO
        op = Operation(
            id=op_id,
            client=pending.client,
            f=pending.f,
            key=pending.key,
            input=pending.input,
            output=output if status == OK else None,
            status=status,
            invoke=pending.invoke,
            complete=self._events if final else None,
            invoke_ms=pending.invoke_ms,
            complete_ms=time_ms if final else None,
            node=node if node is not None else pending.node,
            index=index if status == OK else None,
        )
        if final:
            self._events += 1
        self._done[op_id] = op
        return op

    def bound(self, op_id: int) -> None:
        """Record that the indeterminate operation ``op_id`` can no longer take
        effect from now on (if it took effect, it did so before now).

        Session clients know this: once a later command of the same client has
        been applied, the session refuses any late copy of an abandoned one.
        It turns "may happen at any time, or never" into "before now, or
        never", which keeps the checker's search small.
        """
        self._deadlines.setdefault(op_id, self._events)
        self._events += 1

    def operations(self) -> list[Operation]:
        """Every operation in invocation order; those still open are ``info``."""
        ops = dict(self._done)
        for op_id, deadline in self._deadlines.items():
            op = ops.get(op_id)
            if op is not None and op.status == INFO:
                ops[op_id] = attrs.evolve(op, deadline=deadline)
        for op_id, pending in self._open.items():
            ops[op_id] = Operation(
                id=op_id,
                client=pending.client,
                f=pending.f,
                key=pending.key,
                input=pending.input,
                output=None,
                status=INFO,
                invoke=pending.invoke,
                complete=None,
                invoke_ms=pending.invoke_ms,
                complete_ms=None,
                node=pending.node,
                deadline=self._deadlines.get(op_id),
            )
        return sorted(ops.values(), key=lambda op: op.invoke)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations())


def counts(ops: list[Operation]) -> dict[str, int]:
    """How many operations ended in each status."""
    result = {OK: 0, FAIL: 0, INFO: 0}
    for op in ops:
        result[op.status] += 1
    return result
