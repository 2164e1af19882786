"""One error out of a nursery, not an exception group holding it.

Trio's nurseries are strict: whatever fails inside one - the body or a
background task - leaves it wrapped in an ``ExceptionGroup``, even when only
one thing failed. ``open_node`` and ``open_client`` keep their nurseries to
themselves, so a caller's ``except ConsensusError`` around ``async with``
would never fire. ``single_errors`` unwraps deliberately: a group that holds
one real error (cancellations aside, at any depth) is replaced by that error,
with its own traceback, cause and context; a group of several real errors is
left as it is, because dropping any of them would hide a failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import trio


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """Every exception in ``group`` and its nested groups, in order."""
    found: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(leaves(exc))
        else:
            found.append(exc)
    return found


def single_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception ``group`` stands for, or ``None`` if it holds several.

    An interrupt (``KeyboardInterrupt``, ``SystemExit``) wins over everything
    else: the process is going down either way. Cancellations are dropped
    beside a real error (they are the nursery cleaning up after it); a group of
    cancellations only stands for its first one.
    """
    found = leaves(group)
    for exc in found:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            return exc
    real = [exc for exc in found if not isinstance(exc, trio.Cancelled)]
    if len(real) == 1:
        return real[0]
    if not real and found:
        return found[0]
    return None


@contextmanager
def single_errors() -> Iterator[None]:
    """Re-raise a single-error ``ExceptionGroup`` from the block as that error."""
    try:
        yield
    except BaseExceptionGroup as group:
        error = single_error(group)
        if error is None:
            raise
        context = error.__context__
        try:
            raise error
        finally:
            error.__context__ = context
            del error, context


@asynccontextmanager
async def open_nursery() -> AsyncIterator[trio.Nursery]:
    """``trio.open_nursery()`` that lets a single error out bare (``single_errors``).

    For nurseries that are an implementation detail of a context manager the
    library hands out: the caller sees the error that happened, typed.
    """
    with single_errors():
        async with trio.open_nursery() as nursery:
            yield nursery
