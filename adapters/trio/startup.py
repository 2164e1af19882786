"""Why a node could not start, as typed errors with one-line messages.

``open_node`` raises these (or a ``StorageError``, a ``ConfigError``) before
its block runs; ``pyconsensus node`` prints the message on one line and exits
with status 2. Each message names the thing to fix: the address, the
directory, the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pyconsensus.adapters.trio.config import Address, NodeConfig
from pyconsensus.core.errors import ConsensusError, StorageMismatch
from pyconsensus.core.ready import Write
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import MetaValue
from pyconsensus.protocols import CONSENSUS_PROTOCOLS

PROTOCOL_KEY: Final = "node.protocol"
"""Metadata key: the protocol whose state a storage holds (written on first start)."""
CLUSTER_KEY: Final = "node.cluster_id"
"""Metadata key: the cluster a storage belongs to (written on first start)."""


class StartupError(ConsensusError):
    """The node could not start; the message says what to change."""


class AddressUnavailable(StartupError):
    """The node cannot listen at ``address``: another process holds the port,
    the host is not an address of this machine, or its name does not resolve."""

    def __init__(self, address: Address, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"cannot listen on {address}: {reason}")

    def __reduce__(self) -> tuple[type[AddressUnavailable], tuple[Address, str]]:
        return (type(self), (self.address, self.reason))


def os_reason(error: OSError) -> str:
    """``error`` as a short phrase ("address already in use"), without errno noise."""
    text = error.strerror or str(error)
    return text[:1].lower() + text[1:]


def claim_storage(storage: Storage, config: NodeConfig, where: str) -> None:
    """Make sure ``storage`` holds this cluster's state of this protocol (or none).

    The first start records the cluster id and protocol in the storage's
    metadata; a later start with another cluster or protocol raises
    ``StorageMismatch`` instead of letting the core misread the state (a Raft
    log read as ZAB's looks corrupt). A storage written before the record
    existed tells its protocol by its metadata keys (``raft.term``, ...).
    """
    metadata = storage.metadata()
    cluster = metadata.get(CLUSTER_KEY)
    if cluster is not None and cluster != config.cluster_id:
        raise StorageMismatch(
            f"{where} holds the state of cluster {cluster!r}, not of {config.cluster_id!r}; "
            "use a data_dir of this cluster (or a new one)"
        )
    recorded = metadata.get(PROTOCOL_KEY)
    protocol = str(recorded) if recorded is not None else _protocol_by_keys(metadata)
    if protocol is not None and protocol != config.protocol:
        raise StorageMismatch(
            f"{where} holds {protocol} state; this node runs {config.protocol}. A cluster "
            f'cannot switch protocols in place: set protocol = "{protocol}" or use a new data_dir'
        )
    record: dict[str, MetaValue] = {}
    if cluster is None:
        record[CLUSTER_KEY] = config.cluster_id
    if PROTOCOL_KEY not in metadata:
        record[PROTOCOL_KEY] = config.protocol
    if record:
        storage.write(Write(metadata=record))


def _protocol_by_keys(metadata: Mapping[str, MetaValue]) -> str | None:
    """The protocol whose own keys (``<name>.<key>``) the metadata holds."""
    for name in CONSENSUS_PROTOCOLS:
        if any(key.startswith(f"{name}.") for key in metadata):
            return name
    return None
