"""check_determinism catches each usual way a state machine breaks determinism,
naming the log index where the replicas diverged - and passes a correct one."""

from __future__ import annotations

import pytest

from pyconsensus.cli.hashseeds import check_across_hash_seeds
from pyconsensus.testing import NonDeterministic, check_determinism
from tests.testing.machines import Balances, Dice, Forgetful, Names, Stamped, load_example

COMMANDS = [b"+%d" % (i % 7) for i in range(1, 40)]


def test_a_deterministic_counter_passes_with_snapshots_and_restores() -> None:
    report = check_determinism(load_example().Counter, COMMANDS, restores=5)
    assert report.commands == len(COMMANDS)
    assert len(report.restored_after) == 5


def test_reading_the_wall_clock_is_caught_at_the_first_entry() -> None:
    with pytest.raises(NonDeterministic, match=r"(?s)log index 1 .*wall clock") as caught:
        check_determinism(Stamped, [b"x", b"y"])
    assert caught.value.index == 1


def test_the_global_random_generator_is_caught() -> None:
    with pytest.raises(NonDeterministic, match=r"answered b'\d+' against b'\d+'"):
        check_determinism(Dice, [b"roll"] * 3)


def test_a_snapshot_that_leaves_state_out_is_caught_after_the_restore() -> None:
    commands = [b"abc"] * 10
    with pytest.raises(NonDeterministic, match="restored from snapshots") as caught:
        check_determinism(Forgetful, commands, restores=2)
    assert caught.value.index > 1  # the first answer after a restore shows the lost count


def test_float_sums_in_an_order_that_a_restore_changes_are_caught() -> None:
    commands = [b"z:1e16", b"y:-1e16", b"a:0.1", b"m:0"]
    with pytest.raises(NonDeterministic, match="log index 4") as caught:
        check_determinism(Balances, commands, restores=len(commands))
    assert "answered b'0.1' against b'0.0'" in str(caught.value)


def test_iterating_a_set_of_strings_is_caught_across_hash_seeds() -> None:
    names = [b"ann", b"bob", b"cy", b"dee", b"eve", b"fay", b"gus", b"hal"]
    check_determinism(Names, names)  # within one process it looks deterministic
    with pytest.raises(NonDeterministic, match="PYTHONHASHSEED=1 and PYTHONHASHSEED="):
        check_across_hash_seeds("tests.testing.machines:Names", names, hash_seeds=(1, 2, 3, 4))


def test_a_deterministic_machine_passes_across_hash_seeds() -> None:
    check_across_hash_seeds("tests.testing.machines:Forgetful", COMMANDS[:10], hash_seeds=(1, 2))


def test_an_empty_command_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one command"):
        check_determinism(Forgetful, [])
