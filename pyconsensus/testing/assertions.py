"""``assert_linearizable``: the linearizability checker as a test assertion."""

from __future__ import annotations

from collections.abc import Iterable

from pyconsensus.sim.history import History, Operation
from pyconsensus.sim.linearizability import LinearizabilityResult, Model, check
from pyconsensus.testing.errors import NotLinearizable


def assert_linearizable(
    history: History | Iterable[Operation],
    model: Model,
    *,
    max_explored: int = 1_000_000,
    allow_unknown: bool = False,
) -> LinearizabilityResult:
    """Check that ``history`` is linearizable under ``model``; return the result.

    ``model`` is the sequential specification of your state machine (see
    ``pyconsensus.sim.linearizability.Model``; ``KVModel`` ships for the KV
    machine). Raises ``NotLinearizable`` with the checker's explanation - the
    longest legal order it found and the operation that cannot follow it. If
    the search budget ``max_explored`` runs out the verdict is unknown, which
    fails too unless ``allow_unknown``: an assertion that cannot decide must
    not pass silently.
    """
    ops = list(history.operations()) if isinstance(history, History) else list(history)
    result = check(ops, model, max_explored)
    if result.valid is False:
        failure = result.failure
        detail = failure.explain() if failure is not None else "no explanation"
        raise NotLinearizable(
            f"history of {result.operations} operations is not linearizable:\n{detail}"
        )
    if result.valid is None and not allow_unknown:
        raise NotLinearizable(
            f"the checker explored {result.explored} states of {result.operations} operations "
            f"without a verdict; raise max_explored (now {max_explored}) or shorten the history"
        )
    return result
