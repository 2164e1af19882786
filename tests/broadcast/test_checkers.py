"""Each broadcast property, fed a batch that breaks it, raises; fed a correct one, does not."""

from __future__ import annotations

import pytest

from pyconsensus.broadcast import MessageId
from pyconsensus.core.ready import Ready
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry, EntryKind, NodeId
from pyconsensus.sim import InvariantViolation, SimConfig, Simulation
from pyconsensus.sim.checkers.broadcast import (
    EAGER_SPEC,
    BroadcastSafety,
    TotalOrder,
    correct_members,
)
from pyconsensus.sim.faults import Restart


def sim() -> Simulation:
    return Simulation(EAGER_SPEC, 0, SimConfig(nodes=3))


def deliver(
    checker: BroadcastSafety | TotalOrder, s: Simulation, node: NodeId, *entries: Entry
) -> None:
    n = s.nodes[node]
    assert n is not None
    checker.on_ready(s, node, n, Ready(committed=entries))


def msg(index: int, origin: NodeId, seq: int, data: bytes = b"") -> Entry:
    return Entry(index, MessageId(origin, seq).packed, data or b"%d/%d" % (origin, seq))


def test_a_second_delivery_of_an_id_breaks_no_duplication() -> None:
    s, checker = sim(), BroadcastSafety()
    deliver(checker, s, 1, msg(1, 1, 1))
    deliver(checker, s, 2, msg(1, 1, 1))
    with pytest.raises(InvariantViolation, match="No Duplication"):
        deliver(checker, s, 2, msg(2, 1, 1))


def test_a_restarted_member_may_deliver_an_id_again() -> None:
    s, checker = sim(), BroadcastSafety()
    deliver(checker, s, 1, msg(1, 1, 1))
    deliver(checker, s, 2, msg(1, 1, 1))
    s.crash(2)
    s.apply_fault(Restart(2))
    deliver(checker, s, 2, msg(1, 1, 1))
    assert correct_members(s) == [1, 3]


@pytest.mark.parametrize(
    "entry",
    [
        Entry(1, 0, b"x"),  # no id at all
        msg(1, 9, 1),  # origin is no member
        msg(1, 1, 1, b"other data"),  # same id, other data
        msg(1, 3, 1),  # before its origin broadcast it
    ],
)
def test_invented_messages_break_no_creation(entry: Entry) -> None:
    s, checker = sim(), BroadcastSafety()
    deliver(checker, s, 1, msg(1, 1, 1))
    with pytest.raises(InvariantViolation, match="No Creation"):
        deliver(checker, s, 2, entry)


def test_with_a_ledger_only_broadcast_payloads_may_be_delivered() -> None:
    s, checker = sim(), BroadcastSafety(sender_delivers_first=False, ledger=True)
    checker.record_broadcast(1, b"1/1")
    deliver(checker, s, 2, msg(1, 1, 1))
    with pytest.raises(InvariantViolation, match="No Creation"):
        deliver(checker, s, 2, msg(2, 2, 1, b"never broadcast"))
    with pytest.raises(ValueError):
        BroadcastSafety().record_broadcast(1, b"x")


def test_bookkeeping_entries_are_not_messages() -> None:
    s, checker = sim(), BroadcastSafety()
    deliver(checker, s, 1, Entry(1, 0, b"", EntryKind.NOOP), Entry(2, 0, b"", EntryKind.CONFIG))
    assert checker.deliveries == 0


def test_agreement_and_validity_are_judged_among_correct_members_only() -> None:
    s, checker = sim(), BroadcastSafety()
    deliver(checker, s, 1, msg(1, 1, 1))
    deliver(checker, s, 2, msg(1, 1, 1))
    violation = checker.eventual_violation(s)
    assert violation is not None and violation.property == "Validity"
    s.crash(1)  # its broadcast is owed to nobody now, but node 2 delivered it
    violation = checker.eventual_violation(s)
    assert violation is not None and violation.property == "Agreement"
    deliver(checker, s, 3, msg(1, 1, 1))
    assert checker.eventual_violation(s) is None
    checker.check_eventual(s)


def test_best_effort_promises_no_agreement() -> None:
    s, checker = sim(), BroadcastSafety(agreement=False)
    deliver(checker, s, 1, msg(1, 1, 1))
    deliver(checker, s, 2, msg(1, 1, 1))
    s.crash(1)
    assert checker.eventual_violation(s) is None
    assert "Agreement" not in checker.properties


def test_a_ledger_broadcast_of_a_correct_member_that_nobody_delivered_breaks_validity() -> None:
    s, checker = sim(), BroadcastSafety(ledger=True)
    checker.record_broadcast(2, b"lost")
    with pytest.raises(InvariantViolation, match="Validity"):
        checker.check_eventual(s)
    checker.forget_broadcast(b"lost")
    checker.check_eventual(s)


def test_total_order_wants_the_same_entry_at_each_position() -> None:
    s, checker = sim(), TotalOrder()
    deliver(checker, s, 1, Entry(1, 0, b"", EntryKind.NOOP), msg(2, 1, 1))
    deliver(checker, s, 2, Entry(1, 0, b"", EntryKind.NOOP))
    with pytest.raises(InvariantViolation, match="Total Order"):
        deliver(checker, s, 2, msg(2, 3, 1))


def test_total_order_wants_positions_one_after_another() -> None:
    s, checker = sim(), TotalOrder()
    deliver(checker, s, 1, msg(1, 1, 1))
    with pytest.raises(InvariantViolation, match="right after"):
        deliver(checker, s, 1, msg(3, 1, 2))


def test_total_order_lets_a_snapshot_skip_ahead() -> None:
    s, checker = sim(), TotalOrder()
    deliver(checker, s, 1, msg(1, 1, 1), msg(2, 1, 2), msg(3, 1, 3))
    node = s.nodes[2]
    assert node is not None
    checker.on_ready(
        s, 2, node, Ready(restore=SnapshotMeta(2, 0, None, 0, ""), committed=(msg(3, 1, 3),))
    )
