"""The example of docs/simulation.md ("Test your own state machine"), verbatim:
a replicated counter, its sequential model, a workload - and a snapshot bug
the simulator finds."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from random import Random

import attrs

from pyconsensus.rsm import StateMachine
from pyconsensus.sim import RunConfig, sweep
from pyconsensus.sim.checkers.raft import SPEC
from pyconsensus.sim.history import INFO, Operation
from pyconsensus.sim.linearizability import Model
from pyconsensus.sim.workloads import Invocation, Workload
from tests.sweeps import assert_caught


class Counter:
    """A state machine: b"+5" adds 5 and answers the new total; any query
    answers the total."""

    def __init__(self) -> None:
        self.total = 0

    def apply(self, command: bytes) -> bytes:
        if not command.startswith(b"+") or not command[1:].isdigit():
            return b"error"  # the same answer on every replica; never raise
        self.total += int(command[1:])
        return b"%d" % self.total

    def query(self, query: bytes) -> bytes:
        return b"%d" % self.total

    def snapshot(self) -> bytes:
        return b"%d" % self.total

    def restore(self, data: bytes) -> None:
        self.total = int(data)


class CounterModel:
    """The sequential specification the clients' history must match."""

    def init(self) -> Hashable:
        return 0

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        assert isinstance(state, int)
        if op.f == "add":
            assert isinstance(op.input, int)
            total = state + op.input
            # An indeterminate add may have happened: any answer is fine.
            return op.status == INFO or op.output == total, total
        return op.output == state, state  # a read sees the current total

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        return [list(ops)]  # one counter: nothing to split

    def read_only(self, op: Operation) -> bool:
        return op.f == "read"

    def describe(self, state: Hashable) -> str:
        return f"total {state}"


class CounterWorkload(Workload):
    """What the simulated clients do: add 1..5, or read the total."""

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


CONFIG = RunConfig(workload="custom", check_linearizability=True, nemesis=("all",))


def test_the_replicated_counter_is_linearizable() -> None:
    result = sweep(SPEC, range(40), CONFIG, workload=CounterWorkload)
    assert result.ok, [str(f.violation) for f in result.failures]
    assert result.operations_checked > 40 * 100


class ForgetfulCounter(Counter):
    """The bug: restoring a snapshot forgets the total."""

    def restore(self, data: bytes) -> None:
        self.total = 0


class ForgetfulWorkload(CounterWorkload):
    def new_machine(self) -> StateMachine:
        return ForgetfulCounter()


def test_a_snapshot_bug_in_the_state_machine_is_found() -> None:
    config = attrs.evolve(CONFIG, compact_every=16)
    assert_caught(
        SPEC,
        SPEC,
        range(20),
        config,
        {"Linearizability"},
        workload=ForgetfulWorkload,
        correct_workload=CounterWorkload,
    )
