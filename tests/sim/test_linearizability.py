"""The linearizability checker on hand-built histories: it rejects what is wrong
and accepts what is right, including concurrency and indeterminate operations."""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from random import Random

from pyconsensus.sim.history import FAIL, INFO, OK, History, Operation
from pyconsensus.sim.linearizability import KVModel, check


class Script:
    """Builds a history event by event: ``call`` opens an operation, ``ok``/``fail``/
    ``lost`` ends it. Each event happens one millisecond after the previous one."""

    def __init__(self) -> None:
        self.history = History()
        self.clock = 0
        self.open: dict[str, int] = {}
        self.kinds: dict[str, str] = {}

    def call(self, name: str, f: str, key: str, value: Hashable = None) -> Script:
        self.clock += 1
        self.open[name] = self.history.invoke(len(self.open), f, key, value, self.clock)
        self.kinds[name] = f
        return self

    def ok(self, name: str, output: Hashable = None) -> Script:
        self.clock += 1
        self.history.complete(self.open[name], OK, output, self.clock)
        return self

    def fail(self, name: str) -> Script:
        self.clock += 1
        self.history.complete(self.open[name], FAIL, None, self.clock)
        return self

    def lost(self, name: str) -> Script:
        """The client gave up: the operation is indeterminate."""
        self.history.complete(self.open[name], INFO)
        return self

    def bound(self, name: str) -> Script:
        """From now on the lost operation ``name`` can no longer take effect."""
        self.history.bound(self.open[name])
        return self

    def linearizable(self) -> bool:
        result = check(self.history.operations(), KVModel())
        assert result.valid is not None
        return result.valid


def test_a_stale_read_is_rejected() -> None:
    s = Script().call("w1", "put", "x", b"1").ok("w1").call("w2", "put", "x", b"2").ok("w2")
    s.call("r", "get", "x").ok("r", b"1")
    assert not s.linearizable()


def test_a_lost_write_is_rejected() -> None:
    s = Script().call("a", "append", "x", b"a").ok("a").call("b", "append", "x", b"b").ok("b")
    s.call("r", "get", "x").ok("r", b"a")
    assert not s.linearizable()


def test_a_read_of_a_value_never_written_is_rejected() -> None:
    s = Script().call("w", "put", "x", b"1").ok("w").call("r", "get", "x").ok("r", b"7")
    assert not s.linearizable()


def test_a_read_of_a_missing_key_that_was_written_is_rejected() -> None:
    s = Script().call("w", "put", "x", b"1").ok("w").call("r", "get", "x").ok("r", None)
    assert not s.linearizable()


def test_real_time_order_is_respected() -> None:
    """Two writes, then a read of the first: fine if the writes overlapped (the
    second may take effect first), wrong if the second began after the first ended."""
    overlapping = Script().call("w1", "put", "x", b"1").call("w2", "put", "x", b"2")
    overlapping.ok("w2").ok("w1").call("r", "get", "x").ok("r", b"1")
    assert overlapping.linearizable()

    sequential = Script().call("w1", "put", "x", b"1").ok("w1").call("w2", "put", "x", b"2")
    sequential.ok("w2").call("r", "get", "x").ok("r", b"1")
    assert not sequential.linearizable()


def test_a_read_concurrent_with_a_write_may_see_either_value() -> None:
    for seen in (None, b"1"):
        s = Script().call("w", "put", "x", b"1").call("r", "get", "x").ok("r", seen).ok("w")
        assert s.linearizable()


def test_two_reads_must_not_see_the_write_undone() -> None:
    """A read that saw the new value, followed by a read that sees the old one."""
    s = Script().call("w", "put", "x", b"1").call("r1", "get", "x").ok("r1", b"1")
    s.call("r2", "get", "x").ok("r2", None).ok("w")
    assert not s.linearizable()


def test_an_indeterminate_write_may_take_effect_late() -> None:
    s = Script().call("w", "put", "x", b"1").lost("w")
    s.call("r1", "get", "x").ok("r1", None).call("r2", "get", "x").ok("r2", b"1")
    assert s.linearizable()


def test_an_indeterminate_write_may_never_take_effect() -> None:
    s = Script().call("w", "put", "x", b"1").lost("w").call("r", "get", "x").ok("r", None)
    assert s.linearizable()


def test_an_indeterminate_write_with_a_deadline_takes_effect_before_it_or_never() -> None:
    """Session clients know when a lost command can no longer apply: once a
    later command of theirs was applied."""
    before = Script().call("w", "put", "x", b"1").lost("w").call("r1", "get", "x").ok("r1", None)
    before.bound("w").call("r2", "get", "x").ok("r2", b"1")
    assert before.linearizable()  # it took effect between r1 and the deadline

    after = Script().call("w", "put", "x", b"1").lost("w").bound("w")
    after.call("r1", "get", "x").ok("r1", None).call("r2", "get", "x").ok("r2", b"1")
    assert not after.linearizable()  # too late to take effect after r1

    never = Script().call("w", "put", "x", b"1").lost("w").bound("w")
    never.call("r", "get", "x").ok("r", None)
    assert never.linearizable()


def test_an_indeterminate_write_cannot_take_effect_before_it_was_invoked() -> None:
    s = Script().call("r", "get", "x").ok("r", b"1").call("w", "put", "x", b"1").lost("w")
    assert not s.linearizable()


def test_an_indeterminate_write_takes_effect_at_most_once() -> None:
    s = Script().call("a", "append", "x", b"a").lost("a")
    s.call("r", "get", "x").ok("r", b"aa")
    assert not s.linearizable()


def test_a_failed_write_never_takes_effect() -> None:
    s = Script().call("w", "put", "x", b"1").fail("w").call("r", "get", "x").ok("r", b"1")
    assert not s.linearizable()


def test_compare_and_set_succeeds_only_on_a_match() -> None:
    good = Script().call("w", "put", "x", b"1").ok("w")
    good.call("c", "cas", "x", (b"1", b"2")).ok("c", True).call("r", "get", "x").ok("r", b"2")
    assert good.linearizable()

    bad = Script().call("w", "put", "x", b"1").ok("w")
    bad.call("c", "cas", "x", (b"0", b"2")).ok("c", True)
    assert not bad.linearizable()

    refused = Script().call("w", "put", "x", b"1").ok("w")
    refused.call("c", "cas", "x", (b"1", b"2")).ok("c", False)
    assert not refused.linearizable()


def test_keys_are_checked_independently_but_all_must_pass() -> None:
    s = Script().call("wx", "put", "x", b"1").call("wy", "put", "y", b"1").ok("wx").ok("wy")
    s.call("rx", "get", "x").ok("rx", b"1").call("ry", "get", "y").ok("ry", b"2")
    result = check(s.history.operations(), KVModel())
    assert result.partitions == 2
    assert result.valid is False
    assert result.failure is not None and result.failure.key == "y"


def test_the_failure_names_the_operation_that_cannot_be_placed() -> None:
    s = Script().call("w1", "put", "x", b"1").ok("w1").call("w2", "put", "x", b"2").ok("w2")
    s.call("r", "get", "x").ok("r", b"1")
    result = check(s.history.operations(), KVModel())
    assert result.failure is not None
    assert result.failure.stuck.f == "get"
    assert "cannot place next" in result.failure.explain()
    assert [op.f for op in result.failure.prefix] == ["put", "put"]


def test_many_concurrent_clients_are_accepted_quickly() -> None:
    """Twenty overlapping appends, each read back in the order the appends completed."""
    s = Script()
    for k in range(20):
        s.call(f"a{k}", "append", "x", bytes([65 + k]))
    value = b""
    for k in range(20):
        s.ok(f"a{k}")
        value += bytes([65 + k])
        s.call(f"r{k}", "get", "x").ok(f"r{k}", value)
    assert s.linearizable()


def test_an_exhausted_budget_says_unknown_rather_than_guessing() -> None:
    s = Script()
    for k in range(12):
        s.call(f"a{k}", "append", "x", bytes([65 + k]))
    for k in range(12):
        s.ok(f"a{k}")
    s.call("r", "get", "x").ok("r", b"nothing like it")
    result = check(s.history.operations(), KVModel(), max_explored=50)
    assert result.valid is None
    assert result.ok


def brute_force(ops: list[Operation]) -> bool:
    """Linearizable? By trying every order of every subset of the indeterminate writes."""
    model = KVModel()
    required = [op for op in ops if op.status == OK]
    optional = [op for op in ops if op.status == INFO and not model.read_only(op)]
    for mask in range(1 << len(optional)):
        chosen = required + [op for k, op in enumerate(optional) if mask >> k & 1]
        for order in itertools.permutations(chosen):
            if not respects_real_time(order):
                continue
            state: Hashable = model.init()
            for op in order:
                legal, state = model.step(state, op)
                if not legal:
                    break
            else:
                return True
    return False


def respects_real_time(order: tuple[Operation, ...]) -> bool:
    for k, later in enumerate(order):
        for earlier in order[k + 1 :]:
            end = earlier.complete if earlier.complete is not None else earlier.deadline
            if end is not None and end < later.invoke:
                return False  # ``earlier`` ended before ``later`` began, yet comes after it
    return True


def random_history(rng: Random, size: int) -> list[Operation]:
    values = [None, b"a", b"b", b"ab"]
    script = Script()
    open_ops: list[str] = []
    bounded: list[str] = []
    for k in range(size):
        name = f"o{k}"
        kind = rng.choice(["get", "put", "append", "cas"])
        if kind == "get":
            script.call(name, "get", "x")
        elif kind == "cas":
            script.call(name, "cas", "x", (rng.choice(values), rng.choice([b"a", b"b"])))
        else:
            script.call(name, kind, "x", rng.choice([b"a", b"b"]))
        open_ops.append(name)
        if bounded and rng.random() < 0.5:
            script.bound(bounded.pop())
        while open_ops and rng.random() < 0.5:
            finish = open_ops.pop(rng.randrange(len(open_ops)))
            ending = rng.random()
            if ending < 0.15:
                script.lost(finish)
                if rng.random() < 0.5:
                    bounded.append(finish)
            elif ending < 0.2:
                script.fail(finish)
            else:
                op_kind = script.kinds[finish]
                output: Hashable = None
                if op_kind == "get":
                    output = rng.choice(values)
                elif op_kind == "cas":
                    output = rng.random() < 0.5
                script.ok(finish, output)
    for name in open_ops:
        script.lost(name)
    return script.history.operations()


def test_the_checker_agrees_with_brute_force_on_small_random_histories() -> None:
    rng = Random(2024)
    verdicts = {True: 0, False: 0}
    for _ in range(400):
        ops = random_history(rng, rng.randint(2, 6))
        expected = brute_force(ops)
        result = check(ops, KVModel())
        assert result.valid is expected, [op.describe() for op in ops]
        verdicts[expected] += 1
    assert verdicts[True] > 50 and verdicts[False] > 50  # both kinds were exercised


def test_a_delete_makes_the_key_absent() -> None:
    s = Script().call("w", "put", "x", b"1").ok("w").call("d", "delete", "x").ok("d", True)
    assert Script().call("r", "get", "x").ok("r", None).linearizable()
    s.call("r", "get", "x").ok("r", b"1")
    assert not s.linearizable()


def test_a_delete_must_say_truly_whether_the_key_was_there() -> None:
    assert not Script().call("d", "delete", "x").ok("d", True).linearizable()
    s = Script().call("w", "put", "x", b"1").ok("w").call("d", "delete", "x").ok("d", False)
    assert not s.linearizable()


def test_an_indeterminate_delete_may_or_may_not_have_removed_the_key() -> None:
    s = Script().call("w", "put", "x", b"1").ok("w").call("d", "delete", "x").lost("d")
    assert s.call("r", "get", "x").ok("r", b"1").linearizable()
    s = Script().call("w", "put", "x", b"1").ok("w").call("d", "delete", "x").lost("d")
    assert s.call("r", "get", "x").ok("r", None).linearizable()


def test_a_range_of_one_key_is_checked_like_a_read() -> None:
    s = Script().call("w", "put", "x", b"1").ok("w")
    assert s.call("r", "range", "x").ok("r", b"1").linearizable()
    s = Script().call("w", "put", "x", b"1").ok("w")
    assert not s.call("r", "range", "x").ok("r", None).linearizable()
