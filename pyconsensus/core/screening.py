"""Screening incoming messages: the first thing every core's ``receive`` does.

A message reaches a core only as a decoded object, but nothing guarantees it
came from a correct peer: a bug, a stale process or a hostile sender can
hand over any type, wrong fields, a foreign destination. The rule is the same
in every protocol: what no correct peer sends is dropped and counted under
``dropped.<reason>`` - never raised out of ``receive``, never acted on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

H = TypeVar("H")


def screen(
    message: object,
    handlers: Mapping[type, H],
    validate: Callable[[Any], str | None],
    counters: Counter[str],
) -> H | None:
    """The handler for ``message``, or ``None`` after counting why it is dropped.

    ``handlers`` maps the exact message classes a core accepts to its handler;
    ``validate`` returns the reason a message of one of them is unacceptable
    (``None`` if it is fine) and may raise ``TypeError``, ``AttributeError`` or
    ``ValueError`` on fields of the wrong shape, which count as ``malformed``.
    """
    handler = handlers.get(type(message))
    if handler is None:
        counters["dropped.unknown_type"] += 1
        return None
    try:
        problem = validate(message)
    except (TypeError, AttributeError, ValueError):
        problem = "malformed"
    if problem is not None:
        counters["dropped." + problem] += 1
        return None
    return handler
