"""Best-effort broadcast: the sender sends to every member, and that is all.

Guarantees (among members that never crash):

- **Validity**: if a correct member broadcasts m, every correct member delivers m.
- **No duplication**: nobody delivers m twice.
- **No creation**: a member delivers m only if m's origin broadcast it.

Nothing is promised if the sender crashes: some members may deliver m and
others never will. Validity needs reliable links; over fair-lossy links it
holds with retransmission on (``BroadcastConfig.retransmit_ticks > 0``, the
default), which costs one acknowledgement per copy.

Cost per broadcast to N members: N - 1 messages (2(N - 1) with acknowledgements).
"""

from __future__ import annotations

from pyconsensus.broadcast.node import BroadcastNode


class BestEffortBroadcast(BroadcastNode):
    """Best-effort broadcast: no relaying at all (see the module docstring)."""
