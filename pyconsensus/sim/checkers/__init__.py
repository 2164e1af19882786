"""The simulator's per-protocol parts.

Each module holds one protocol family's safety checkers and the
``ProtocolSpec`` that attaches them to the registered protocol
(``make_spec``, ``SPEC``): ``raft``, ``zab``, ``paxos`` and ``broadcast``.
"""
