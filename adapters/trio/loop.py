"""What the runtime needs from its event loop beyond the portable primitives.

Everything else in the runtime uses the structured-concurrency primitives
that trio and AnyIO share one-for-one (task groups, cancel scopes,
``fail_after``/``move_on_after``, events, sleeps, byte streams). The two
things below have no portable equivalent that is as cheap, so they live here,
behind one small interface per event loop (docs/architecture.md, "Runtime
shape"): a ``Wakeup`` that a task parks on and any callback re-arms (the pump
and the frame senders are woken thousands of times a second; an event per
wake-up would cost an allocation and a task switch more), and
``loop_caller``, which runs a callback in the loop from another thread without
blocking that thread (the storage writer reports each write this way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

LoopCaller = Callable[..., Any]
"""``call(fn, *args)``: run ``fn(*args)`` in the event loop soon; callable
from any thread, never blocks; raises ``RuntimeError`` once the loop is gone."""


class Wakeup:
    """A place for one task to wait until someone calls ``wake``."""

    __slots__ = ("_lot",)

    def __init__(self) -> None:
        self._lot = trio.lowlevel.ParkingLot()

    async def park(self) -> None:
        """Wait for the next ``wake`` (a ``wake`` before this call is not kept)."""
        await self._lot.park()

    def wake(self) -> None:
        """Wake the task parked here, if any (from the loop's thread)."""
        self._lot.unpark_all()


def loop_caller() -> LoopCaller:
    """A ``LoopCaller`` for the running event loop (call it from inside the loop)."""
    token = trio.lowlevel.current_trio_token()

    def call(fn: Callable[..., Any], *args: Any) -> None:
        try:
            token.run_sync_soon(fn, *args)
        except trio.RunFinishedError as exc:
            raise RuntimeError("the event loop has finished") from exc

    return call


async def yield_to_others() -> None:
    """Let every other ready task run once before this one goes on."""
    await trio.lowlevel.checkpoint()
