"""A replicated counter, its sequential model and a client workload - the
example of docs/testing.md. ``+5`` adds five and answers the new total; any
query answers the total."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from random import Random

from pyconsensus.rsm import StateMachine
from pyconsensus.sim.history import INFO
from pyconsensus.testing import Invocation, Model, Operation, Workload


class Counter:
    """The state machine. Deterministic, and never raises on bad input: every
    replica must answer every command alike."""

    def __init__(self) -> None:
        self.total = 0

    def apply(self, command: bytes) -> bytes:
        if not command.startswith(b"+") or not command[1:].isdigit():
            return b"error"
        self.total += int(command[1:])
        return b"%d" % self.total

    def query(self, query: bytes) -> bytes:
        return b"%d" % self.total

    def snapshot(self) -> bytes:
        return b"%d" % self.total

    def restore(self, data: bytes) -> None:
        self.total = int(data)


class CounterModel:
    """What a correct counter does, one operation at a time."""

    def init(self) -> Hashable:
        return 0

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        assert isinstance(state, int)
        if op.f == "add":
            assert isinstance(op.input, int)
            total = state + op.input
            return op.status == INFO or op.output == total, total
        return op.output == state, state

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        return [list(ops)]

    def read_only(self, op: Operation) -> bool:
        return op.f == "read"

    def describe(self, state: Hashable) -> str:
        return f"total {state}"


class CounterWorkload(Workload):
    """Clients that add small amounts and read the total."""

    name = "counter"

    def new_machine(self) -> StateMachine:
        return Counter()

    def model(self) -> Model:
        return CounterModel()

    def next(self, rng: Random, client: int, count: int) -> Invocation:
        if rng.random() < 0.4:
            return Invocation("read", "total", None, b"?", read=True)
        amount = rng.randint(1, 5)
        return Invocation("add", "total", amount, b"+%d" % amount)

    def output(self, invocation: Invocation, result: bytes) -> Hashable:
        return int(result)
