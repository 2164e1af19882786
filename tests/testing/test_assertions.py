"""assert_linearizable: a correct history passes, and a deliberately broken
model is caught with the checker's explanation."""

from __future__ import annotations

from collections.abc import Hashable

import pytest

from pyconsensus.testing import History, NotLinearizable, Operation, assert_linearizable
from tests.testing.machines import load_example

example = load_example()


def _history() -> History:
    """Client 1 adds 2 (ok: 2); client 2 reads 2 after it."""
    history = History()
    add = history.invoke(1, "add", "total", 2, 0)
    history.complete(add, "ok", 2, 5)
    read = history.invoke(2, "read", "total", None, 6)
    history.complete(read, "ok", 2, 9)
    return history


class StuckModel(example.CounterModel):  # type: ignore[misc,name-defined]
    """A broken model: believes a read always sees zero."""

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        if op.f == "read":
            return op.output == 0, state
        return super().step(state, op)  # type: ignore[no-any-return]


def test_a_linearizable_history_passes() -> None:
    result = assert_linearizable(_history(), example.CounterModel())
    assert result.valid is True
    assert result.operations == 2


def test_a_broken_model_is_caught_with_an_explanation() -> None:
    with pytest.raises(NotLinearizable, match="not linearizable") as caught:
        assert_linearizable(_history(), StuckModel())
    assert "cannot place next: #1 client 2 read('total') -> 2" in str(caught.value)


def test_a_stale_read_is_caught() -> None:
    history = _history()
    late = history.invoke(3, "read", "total", None, 10)
    history.complete(late, "ok", 0, 12)  # after the add completed: must see 2
    with pytest.raises(NotLinearizable):
        assert_linearizable(history, example.CounterModel())


def test_an_undecided_check_fails_unless_allowed() -> None:
    with pytest.raises(NotLinearizable, match="without a verdict"):
        assert_linearizable(_history(), example.CounterModel(), max_explored=0)
