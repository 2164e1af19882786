"""``SimCluster``: your state machine on a simulated cluster, driven by hand.

Where ``expect_ok`` lets random clients and a nemesis loose, a ``SimCluster``
is for tests that tell a story: start three nodes, write, crash the leader,
write again, check what every replica holds. Time is virtual: ``wait_for``
runs the cluster until a condition holds (or fails the test with
``Timeout``), so nothing sleeps and every run of a test is the same run.

    cluster = SimCluster(Counter, protocol="raft", seed=1)
    client = cluster.client()
    assert client.call(b"+5") == b"5"
    cluster.crash(cluster.wait_for_leader())
    assert client.call(b"+1") == b"6"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from random import Random

from pyconsensus.core.errors import NotLeader
from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.types import NodeId
from pyconsensus.rsm.envelope import SessionCommand
from pyconsensus.rsm.replicated import Completed, Failed, Outcome, ReplicatedStateMachine
from pyconsensus.rsm.sessions import ClientSession
from pyconsensus.sim.faults import Crash, Heal, Partition, Restart
from pyconsensus.sim.network import NetworkConfig
from pyconsensus.sim.simulation import SimConfig, Simulation
from pyconsensus.sim.specs import get_spec
from pyconsensus.testing.determinism import MachineFactory, snapshot_digest
from pyconsensus.testing.errors import Timeout

POLL_MS = 5
"""How far virtual time moves between two looks at a condition."""


class SimCluster:
    """A deterministic cluster of ``nodes`` replicas of ``machine()`` over ``protocol``.

    ``compact_every`` (0: never) makes every replica snapshot after that many
    applied entries. ``sim`` is the underlying ``Simulation`` for anything
    this class does not wrap.
    """

    def __init__(
        self,
        machine: MachineFactory,
        *,
        protocol: str = "raft",
        nodes: int = 3,
        seed: int = 0,
        compact_every: int = 0,
        network: NetworkConfig | None = None,
        options: Mapping[str, str] | None = None,
    ) -> None:
        spec = get_spec(protocol).with_options(options or {})
        config = SimConfig(
            nodes=nodes,
            compact_every=compact_every,
            network=network if network is not None else NetworkConfig(1, 8),
        )

        def replicate(node: ConsensusNode) -> ReplicatedStateMachine:
            return ReplicatedStateMachine(node, machine(), compact_every=compact_every)

        self.sim = Simulation(spec, seed, config, app=replicate)
        self.seed = seed
        self._clients = 0

    # -- time ------------------------------------------------------------

    @property
    def now(self) -> int:
        """Virtual milliseconds since the cluster started."""
        return self.sim.now

    def run_for(self, duration_ms: int) -> None:
        """Let ``duration_ms`` of virtual time pass."""
        self.sim.run_for(duration_ms)

    def wait_for(
        self, condition: Callable[[], bool], *, timeout_ms: int = 5_000, what: str = "condition"
    ) -> None:
        """Run until ``condition()`` holds; ``Timeout`` (naming ``what``) if it
        does not within ``timeout_ms`` of virtual time."""
        deadline = self.sim.now + timeout_ms
        while not condition():
            if self.sim.now >= deadline:
                raise Timeout(
                    f"{what} did not happen within {timeout_ms} ms of virtual time "
                    f"(now t={self.sim.now} ms, seed {self.seed})"
                )
            self.sim.run_for(POLL_MS)

    # -- the cluster -----------------------------------------------------

    @property
    def members(self) -> tuple[NodeId, ...]:
        return self.sim.members

    def leader(self) -> NodeId | None:
        """The live leader with the highest term, if any."""
        return self.sim.leader()

    def wait_for_leader(self, *, timeout_ms: int = 5_000) -> NodeId:
        """Run until some node leads; return it."""
        self.wait_for(lambda: self.leader() is not None, timeout_ms=timeout_ms, what="a leader")
        leader = self.leader()
        assert leader is not None
        return leader

    def crash(self, node: NodeId) -> None:
        """Stop ``node`` now; what it had not synced is lost."""
        self.sim.apply_fault(Crash(node))

    def restart(self, node: NodeId) -> None:
        """Start a crashed ``node`` again from its storage."""
        self.sim.apply_fault(Restart(node))

    def partition(self, *groups: tuple[NodeId, ...]) -> None:
        """Split the network: nodes in different groups cannot talk."""
        self.sim.apply_fault(Partition(tuple(tuple(g) for g in groups)))

    def heal(self) -> None:
        """Remove every partition."""
        self.sim.apply_fault(Heal())

    # -- the replicas ----------------------------------------------------

    def replica(self, node: NodeId) -> ReplicatedStateMachine:
        """The replication layer of a live ``node`` (its ``machine``, ``applied``...)."""
        app = self.sim.apps.get(node)
        if app is None or self.sim.nodes[node] is None:
            raise LookupError(f"node {node} is down (or not a member of {self.members})")
        return app

    def wait_until_converged(self, *, timeout_ms: int = 5_000) -> int:
        """Run until every live replica has applied the same index and holds
        the same state (equal snapshot digests); return that index."""

        def converged() -> bool:
            replicas = [self.replica(n) for n in self.sim.live()]
            if len({r.applied for r in replicas}) != 1:
                return False
            return len({snapshot_digest(r.machine) for r in replicas}) == 1

        self.wait_for(converged, timeout_ms=timeout_ms, what="live replicas converging")
        return self.replica(self.sim.live()[0]).applied

    def client(self, *, attempt_timeout_ms: int = 250) -> SimClient:
        """A new client with its own session."""
        self._clients += 1
        return SimClient(self, self._clients, attempt_timeout_ms)


class Call:
    """One client request in flight; ``done`` once answered or given up."""

    def __init__(self, deadline_ms: int) -> None:
        self.deadline_ms = deadline_ms
        self.outcome: Completed | None = None
        self.error: Exception | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None or self.error is not None

    def result(self) -> bytes:
        """The state machine's answer; raises why there is none."""
        if self.outcome is not None:
            return self.outcome.result
        if self.error is not None:
            raise self.error
        raise Timeout("the call has not completed yet (use SimCluster.wait_for)")


class SimClient:
    """A client as real ones behave: it sends to the node it believes leads,
    follows ``NotLeader`` hints, and retries a command with the same session
    sequence number (so it takes effect at most once) until it is answered or
    its deadline passes."""

    def __init__(self, cluster: SimCluster, client_id: int, attempt_timeout_ms: int) -> None:
        self.cluster = cluster
        self.session = ClientSession(client_id)
        self.attempt_timeout_ms = attempt_timeout_ms
        self._rng = Random(f"{cluster.seed}:client:{client_id}")
        self._target: NodeId | None = None

    def submit(self, command: bytes, *, timeout_ms: int = 3_000) -> Call:
        """Start a command through the log; returns at once."""
        return self._start(self.session.next(command), b"", timeout_ms)

    def query(self, query: bytes, *, timeout_ms: int = 3_000) -> Call:
        """Start a linearizable read; returns at once."""
        return self._start(None, query, timeout_ms)

    def call(self, command: bytes, *, timeout_ms: int = 3_000) -> bytes:
        """Submit ``command`` and run the cluster until it is answered."""
        return self._finish(self.submit(command, timeout_ms=timeout_ms))

    def read(self, query: bytes, *, timeout_ms: int = 3_000) -> bytes:
        """Read linearizably and run the cluster until answered."""
        return self._finish(self.query(query, timeout_ms=timeout_ms))

    def _finish(self, call: Call) -> bytes:
        # The call gives up by itself at the first attempt after its deadline.
        slack = call.deadline_ms - self.cluster.now + self.attempt_timeout_ms + 20
        self.cluster.wait_for(lambda: call.done, timeout_ms=slack, what="an answer")
        return call.result()

    def _start(self, command: SessionCommand | None, query: bytes, timeout_ms: int) -> Call:
        call = Call(self.cluster.now + timeout_ms)
        self._attempt(call, command, query)
        return call

    def _attempt(self, call: Call, command: SessionCommand | None, query: bytes) -> None:
        sim = self.cluster.sim
        if call.done:
            return
        if sim.now >= call.deadline_ms:
            call.error = Timeout(f"no answer before t={call.deadline_ms} ms (seed {sim.seed})")
            if command is not None:
                self.session.settle(command.seq)
            return
        target = self._target if self._target is not None else self._rng.choice(sim.members)
        attempt_over = False

        def retry(delay_ms: int) -> None:
            nonlocal attempt_over
            if not attempt_over:
                attempt_over = True
                sim.call_later(delay_ms, lambda: self._attempt(call, command, query))

        def on_outcome(outcome: Outcome) -> None:
            if isinstance(outcome, Completed):
                if not call.done:
                    call.outcome = outcome
                    if command is not None:
                        self.session.settle(command.seq)
                return
            hint = outcome.error.leader_hint if isinstance(outcome.error, NotLeader) else None
            self._target = hint if isinstance(outcome, Failed) else None
            retry(0 if self._target is not None else 20)

        if command is None:
            sent = sim.query(target, query, on_outcome)
        else:
            sent = sim.submit(target, self.session.envelope(command), on_outcome)
        if not sent:
            self._target = None
            retry(20)
            return

        def on_timeout() -> None:
            self._target = None
            retry(0)

        sim.call_later(self.attempt_timeout_ms, on_timeout)
