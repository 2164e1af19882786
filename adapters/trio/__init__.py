"""The trio runtime: run a consensus node over TCP, replicate a state machine.

- ``open_node(config, state_machine)`` runs one node (``Node``): transport,
  timers, the driver loop, the application API (``propose``, ``read``,
  ``status``);
- ``open_client(members, cluster_id)`` is a network client (``Client``) that
  follows leader hints and retries safely within its session;
- ``NodeConfig`` / ``load_config`` describe a node, from code or a TOML file;
- ``Node.on_leader_change`` / ``Node.leader_changes`` report leader changes.

Errors come out of both context managers as themselves (``ConsensusError``
subclasses: ``Unavailable``, ``AddressUnavailable``, ...), not wrapped in an
``ExceptionGroup``.

See docs/tutorial.md.
"""

from pyconsensus.adapters.trio.client import Client, RetryPolicy, open_client
from pyconsensus.adapters.trio.config import (
    Address,
    NodeConfig,
    ObserveConfig,
    TransportConfig,
    load_config,
    parse_config,
)
from pyconsensus.adapters.trio.errors import (
    IndeterminateResult,
    NodeStopped,
    RequestRejected,
    Unavailable,
)
from pyconsensus.adapters.trio.leadership import LeaderChange
from pyconsensus.adapters.trio.runtime import Node, NodeStatus, PeerStatus, open_node
from pyconsensus.adapters.trio.startup import AddressUnavailable, StartupError

__all__ = [
    "Address",
    "AddressUnavailable",
    "Client",
    "IndeterminateResult",
    "LeaderChange",
    "Node",
    "NodeConfig",
    "NodeStatus",
    "NodeStopped",
    "ObserveConfig",
    "PeerStatus",
    "RequestRejected",
    "RetryPolicy",
    "StartupError",
    "TransportConfig",
    "Unavailable",
    "load_config",
    "open_client",
    "open_node",
    "parse_config",
]
