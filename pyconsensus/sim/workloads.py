"""Workloads: what simulated clients ask of a replicated state machine, and the
sequential model their history is checked against.

To test your own state machine, subclass ``Workload``: say how to build the
machine, how to draw the next operation and decode its answer, and give a
``Model`` for the linearizability checker. ``KVWorkload`` is the built-in one.
"""

from __future__ import annotations

from collections.abc import Hashable
from random import Random

import attrs

from pyconsensus.core.node import ConsensusNode
from pyconsensus.rsm import kv
from pyconsensus.rsm.machine import StateMachine
from pyconsensus.rsm.replicated import ReplicatedStateMachine
from pyconsensus.sim.linearizability import KVModel, Model


@attrs.frozen(slots=True)
class Invocation:
    """One operation a client is about to invoke.

    ``f``, ``key`` and ``input`` go into the history (``key`` partitions it for
    the checker); ``payload`` is the command (or, with ``read``, the query) the
    state machine receives.
    """

    f: str
    key: Hashable
    input: Hashable
    payload: bytes
    read: bool = False


class Workload:
    """Base class of client workloads (see the module docstring)."""

    name = "workload"

    def new_machine(self) -> StateMachine:
        """A fresh, empty state machine (one per node incarnation)."""
        raise NotImplementedError

    def model(self) -> Model:
        """The sequential specification the history must be linearizable to."""
        raise NotImplementedError

    def next(self, rng: Random, client: int, count: int) -> Invocation:
        """The ``count``-th operation (from 1) of ``client``; draw randomness from ``rng`` only."""
        raise NotImplementedError

    def output(self, invocation: Invocation, result: bytes) -> Hashable:
        """Decode the state machine's answer into the history's output."""
        raise NotImplementedError

    def observe(self, client: int, invocation: Invocation, output: Hashable) -> None:
        """Called when an operation completes (lets clients build on what they saw)."""

    def replicate(self, node: ConsensusNode, compact_every: int) -> ReplicatedStateMachine:
        """The replication layer around a new machine on ``node``."""
        return ReplicatedStateMachine(node, self.new_machine(), compact_every=compact_every)


class KVWorkload(Workload):
    """Random put/get/append/compare-and-set on a few keys of ``KVStateMachine``.

    Written values are unique (``<client>.<count>``), so a read pins down which
    write it saw. A client's compare-and-set expects the value it last read.
    ``deletes`` and ``ranges`` (0 unless asked for, so that the default runs
    stay what they were) add deletes and range scans of one key's interval.
    """

    name = "kv"

    def __init__(
        self,
        keys: int = 4,
        *,
        reads: float = 0.4,
        puts: float = 0.2,
        appends: float = 0.25,
        deletes: float = 0.0,
        ranges: float = 0.0,
    ) -> None:
        if keys < 1:
            raise ValueError(f"need at least one key, got {keys}")
        mix = (reads, puts, appends, deletes, ranges)
        if min(mix) < 0 or sum(mix) > 1:
            raise ValueError("operation mix must be non-negative fractions summing to <= 1")
        self.keys = [b"k%d" % k for k in range(keys)]
        self.reads = reads
        self.puts = puts
        self.appends = appends
        self.deletes = deletes
        self.ranges = ranges
        self._last_seen: dict[tuple[int, bytes], bytes | None] = {}

    def new_machine(self) -> StateMachine:
        return kv.KVStateMachine()

    def model(self) -> Model:
        return KVModel()

    def next(self, rng: Random, client: int, count: int) -> Invocation:
        key = rng.choice(self.keys)
        roll = rng.random()
        tag = b"%d.%d" % (client, count)
        if roll < self.reads:
            return Invocation("get", key, None, kv.get(key), read=True)
        roll -= self.reads
        if roll < self.puts:
            return Invocation("put", key, tag, kv.put(key, tag))
        roll -= self.puts
        if roll < self.appends:
            suffix = tag + b";"
            return Invocation("append", key, suffix, kv.append(key, suffix))
        roll -= self.appends
        if roll < self.deletes:
            return Invocation("delete", key, None, kv.delete(key))
        roll -= self.deletes
        if roll < self.ranges:
            query = kv.range_query(key, key + b"\x00", 2)
            return Invocation("range", key, None, query, read=True)
        expected = self._last_seen.get((client, key))
        return Invocation("cas", key, (expected, tag), kv.cas(key, expected, tag))

    def output(self, invocation: Invocation, result: bytes) -> Hashable:
        if invocation.f == "get":
            return kv.decode_get(result)
        if invocation.f == "cas":
            return kv.decode_cas(result)
        if invocation.f == "delete":
            return kv.decode_delete(result)
        if invocation.f == "range":
            page = kv.decode_range(result)
            if page.more or [k for k, _ in page.items] not in ([], [invocation.key]):
                raise ValueError(f"range of {invocation.key!r} answered {page!r}")
            return page.items[0][1] if page.items else None
        if result != kv.OK:
            raise ValueError(f"{invocation.f} answered {result!r}")
        return None

    def observe(self, client: int, invocation: Invocation, output: Hashable) -> None:
        key = invocation.key
        assert isinstance(key, bytes)
        if invocation.f in ("get", "range"):
            assert output is None or isinstance(output, bytes)
            self._last_seen[(client, key)] = output
        elif invocation.f == "delete":
            self._last_seen[(client, key)] = None
        elif invocation.f == "put":
            assert isinstance(invocation.input, bytes)
            self._last_seen[(client, key)] = invocation.input
        elif invocation.f == "cas" and output:
            assert isinstance(invocation.input, tuple)
            self._last_seen[(client, key)] = invocation.input[1]
