"""The running part of ``pyconsensus node`` (imports trio; loaded on use)."""

from __future__ import annotations

import logging
import signal
import sys

import trio

from pyconsensus.adapters.trio import NodeConfig, groups, open_node
from pyconsensus.adapters.trio.events import format_term, term_name
from pyconsensus.rsm import StateMachine

log = logging.getLogger("pyconsensus.node")


class Serving:
    """Whether the node got as far as serving (failures before are startup failures)."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False


async def serve(
    config: NodeConfig,
    machine: StateMachine,
    serving: Serving,
    *,
    fault_signals: bool,
    exit_with_parent: bool,
) -> None:
    """Run the node until SIGINT/SIGTERM (or, with ``exit_with_parent``, until
    standard input closes). With ``fault_signals``, SIGUSR1 isolates the node
    from its peers and SIGUSR2 lets it rejoin."""
    wanted = {signal.SIGTERM, signal.SIGINT}
    if fault_signals:
        wanted |= {signal.SIGUSR1, signal.SIGUSR2}
    with trio.open_signal_receiver(*wanted) as signals:
        async with open_node(config, machine) as node:
            serving.started = True
            print(
                f"node {config.node_id} ({config.protocol}) serving on "
                f"{config.address.host}:{node.port}, data in {config.data_dir}",
                flush=True,
            )
            async with groups.open_nursery() as nursery:
                if exit_with_parent:
                    nursery.start_soon(_watch_parent, nursery.cancel_scope)
                async for signum in signals:
                    if signum == signal.SIGUSR1:
                        node.isolate(True)
                    elif signum == signal.SIGUSR2:
                        node.isolate(False)
                    else:
                        log.info("signal %d: stopping", signum)
                        break
                nursery.cancel_scope.cancel()
            status = node.status()
            log.info(
                "stopping at %s %s, commit %d, applied %d; counters: %s",
                term_name(config.protocol),
                format_term(config.protocol, status.term),
                status.commit_index,
                status.applied_index,
                ", ".join(f"{k}={v}" for k, v in sorted(status.counters.items())),
            )


async def _watch_parent(scope: trio.CancelScope) -> None:
    """Stop when standard input closes: the parent (the demo, a test) is gone."""
    stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
    while await stdin.receive_some(4096):
        pass
    log.warning("standard input closed (parent gone): stopping")
    scope.cancel()
