"""Transcript tests: drive nodes step by step from a text file and compare
every output batch with the expected text (in the spirit of etcd raft's
data-driven interaction tests).

A transcript is a sequence of blocks separated by blank lines. A block is
optional ``#`` comment lines, one command, a ``----`` line, and the output the
command is expected to produce::

    # Node 1 times out and asks for pre-votes.
    tick 1 12
    ----
    1->2 RequestVote term=1 last_index=0 last_term=0 pre_vote=true
    1->3 RequestVote term=1 last_index=0 last_term=0 pre_vote=true

Commands (nodes are numbers, ``all`` where noted):

==============================  =====================================================
``cluster protocol=P nodes=N     start a cluster (first command); other ``key=value``
seed=S key=value...``            pairs are protocol options (``pre_vote=false``)
``tick NODE|all [COUNT]``        tick the node(s) COUNT times (default 1)
``deliver [from=N] [to=N]        deliver the pending messages that match, in send
[type=T]``                       order (the replies they cause stay pending)
``drop [from=N] [to=N]           discard the pending messages that match
[type=T]``
``stabilize``                    deliver until no message is pending
``run ROUNDS``                   ROUNDS times: tick every node, then stabilize
``propose NODE DATA``            propose the bytes of DATA
``read NODE``                    request a linearizable read
``compact NODE INDEX``           tell the node the application snapshotted INDEX
``crash NODE`` / ``restart NODE``  stop (losing unsynced writes) / start from storage
``partition 1,2 3``              cut the groups off from each other
``isolate NODE``, ``cut A B``,   network faults and their undo
``heal``
``pending``                      list the messages waiting to be delivered
``status [NODE...]``             role, term, leader, commit and applied index
``log NODE``                     the entries in the node's storage
==============================  =====================================================

Any command may end with ``quiet``: it runs, but its batches are not shown
(handy for ``run 30 quiet`` followed by ``status``).

Output lines, one per item of each batch in the order the nodes produced them::

    N: write meta KEY=VALUE ...        N: write entries I@T="data" I@T:noop ...
    N: write truncate from I           N: write snapshot I@T
    A->B Message field=value ...       (a message; "(cut)" if the link is cut)
    N: restore I@T                     N: apply I@T="data" ...
    N: reply Reply field=value ...

``run_transcript(text)`` returns the transcript with the actual output in place
of the expected one, so a test compares the two and a reviewed change is
accepted by writing the result back (see ``tests/transcripts``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs

from pyconsensus.core.errors import ConsensusError
from pyconsensus.core.ready import Message, Ready
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry, EntryKind, NodeId
from pyconsensus.sim.harness import Harness
from pyconsensus.sim.specs import get_spec

SEPARATOR = "----"


class TranscriptError(Exception):
    """A transcript is malformed; the message names the line."""


@attrs.frozen(slots=True)
class Block:
    comments: tuple[str, ...]
    command: str
    expected: tuple[str, ...]
    line: int


def parse(text: str) -> list[Block]:
    """Split a transcript into blocks."""
    blocks: list[Block] = []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        start = k
        comments = []
        while k < len(lines) and lines[k].startswith("#"):
            comments.append(lines[k])
            k += 1
        if k >= len(lines) or not lines[k].strip():
            blocks.append(Block(tuple(comments), "", (), start + 1))  # a comment-only block
            continue
        command = lines[k].strip()
        k += 1
        if k >= len(lines) or lines[k].strip() != SEPARATOR:
            raise TranscriptError(f"line {k + 1}: expected {SEPARATOR!r} after {command!r}")
        k += 1
        expected = []
        while k < len(lines) and lines[k].strip():
            expected.append(lines[k])
            k += 1
        blocks.append(Block(tuple(comments), command, tuple(expected), start + 1))
    return blocks


def run_transcript(text: str) -> str:
    """Run every command; the transcript with each block's actual output."""
    runner = _Runner()
    out: list[str] = []
    for block in parse(text):
        out.extend(block.comments)
        if block.command:
            try:
                actual = runner.run(block.command)
            except TranscriptError as exc:
                raise TranscriptError(f"line {block.line}: {exc}") from None
            out.extend([block.command, SEPARATOR, *(actual or ["ok"])])
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------


class _Runner:
    def __init__(self) -> None:
        self.harness: Harness[Any] | None = None
        self.batches: list[tuple[NodeId, Ready]] = []

    def run(self, command: str) -> list[str]:
        words = command.split()
        quiet = len(words) > 1 and words[-1] == "quiet"
        if quiet:
            words = words[:-1]
        name, args = words[0], words[1:]
        if name == "cluster":
            return self._cluster(args)
        handler = self.COMMANDS.get(name)
        if handler is None:
            raise TranscriptError(f"unknown command {name!r}")
        if self.harness is None:
            raise TranscriptError("start with a 'cluster' command")
        self.batches = []
        lines = handler(self, self.harness, args)
        if quiet:
            return lines
        return lines + [line for node, ready in self.batches for line in self._ready(node, ready)]

    # -- commands ----------------------------------------------------------

    def _cluster(self, args: list[str]) -> list[str]:
        settings = _pairs(args)
        protocol = settings.pop("protocol", "raft")
        nodes = int(settings.pop("nodes", "3"))
        seed = int(settings.pop("seed", "0"))
        try:
            spec = get_spec(protocol).with_options(settings)
        except ConsensusError as exc:
            raise TranscriptError(str(exc)) from None
        self.batches = []
        harness: Harness[Any] = Harness(spec.factory, range(1, nodes + 1), seed)
        harness.listeners.append(lambda node, ready: self.batches.append((node, ready)))
        self.harness = harness
        return []

    def _tick(self, h: Harness[Any], args: list[str]) -> list[str]:
        if not args:
            raise TranscriptError("tick needs a node (or all)")
        count = int(args[1]) if len(args) > 1 else 1
        for _ in range(count):
            if args[0] == "all":
                h.tick_all()
            else:
                h.tick(_node(args[0]))
        return []

    def _deliver(self, h: Harness[Any], args: list[str]) -> list[str]:
        matching = self._matching(h, args)
        chosen = [m for m in h.pending if matching(m)]
        h.pending = [m for m in h.pending if not matching(m)]
        for message in chosen:
            if message.dst in h.down or (message.src, message.dst) in h.cut_links:
                continue
            h.nodes[message.dst].receive(message)
            h.flush(message.dst)
        return [f"delivered {len(chosen)}"]

    def _drop(self, h: Harness[Any], args: list[str]) -> list[str]:
        matching = self._matching(h, args)
        dropped = [m for m in h.pending if matching(m)]
        h.pending = [m for m in h.pending if not matching(m)]
        return [f"dropped {_message(m)}" for m in dropped] or ["dropped nothing"]

    def _stabilize(self, h: Harness[Any], args: list[str]) -> list[str]:
        h.stabilize()
        return []

    def _run(self, h: Harness[Any], args: list[str]) -> list[str]:
        rounds = int(_one(args))
        for _ in range(rounds):
            h.tick_all()
            h.stabilize()
        return []

    def _propose(self, h: Harness[Any], args: list[str]) -> list[str]:
        if len(args) < 2:
            raise TranscriptError("propose needs a node and data")
        rid = h.propose(_node(args[0]), " ".join(args[1:]).encode())
        return [f"request {rid}"]

    def _read(self, h: Harness[Any], args: list[str]) -> list[str]:
        return [f"request {h.read(_node(_one(args)))}"]

    def _compact(self, h: Harness[Any], args: list[str]) -> list[str]:
        if len(args) != 2:
            raise TranscriptError("compact needs a node and an index")
        node, index = _node(args[0]), int(args[1])
        h.compact(node, index, b"snapshot@%d" % index)
        h.flush(node)
        return []

    def _crash(self, h: Harness[Any], args: list[str]) -> list[str]:
        h.crash(_node(_one(args)))
        return []

    def _restart(self, h: Harness[Any], args: list[str]) -> list[str]:
        h.restart(_node(_one(args)))
        return []

    def _partition(self, h: Harness[Any], args: list[str]) -> list[str]:
        groups = [[_node(n) for n in group.split(",")] for group in args]
        if len(groups) < 2:
            raise TranscriptError("partition needs at least two groups, like: partition 1,2 3")
        h.partition(*groups)
        return []

    def _isolate(self, h: Harness[Any], args: list[str]) -> list[str]:
        h.isolate(_node(_one(args)))
        return []

    def _cut(self, h: Harness[Any], args: list[str]) -> list[str]:
        if len(args) != 2:
            raise TranscriptError("cut needs a source and a destination")
        h.cut(_node(args[0]), _node(args[1]))
        return []

    def _heal(self, h: Harness[Any], args: list[str]) -> list[str]:
        h.heal()
        return []

    def _pending(self, h: Harness[Any], args: list[str]) -> list[str]:
        return [_message(m) for m in h.pending] or ["nothing pending"]

    def _status(self, h: Harness[Any], args: list[str]) -> list[str]:
        nodes = [_node(a) for a in args] or list(h.members)
        lines = []
        for node in nodes:
            if node in h.down:
                lines.append(f"{node}: down")
                continue
            s = h.nodes[node].status()
            lines.append(
                f"{node}: {s.role.value} term={s.term} leader={s.leader} "
                f"commit={s.commit_index} applied={s.applied_index} last={s.last_index}"
            )
        return lines

    def _log(self, h: Harness[Any], args: list[str]) -> list[str]:
        node = _node(_one(args))
        storage = h.storages[node]
        snapshot = storage.snapshot()
        entries = storage.entries(storage.first_index(), storage.last_index() + 1)
        base = f"snapshot {_snap(snapshot)}, " if snapshot is not None else ""
        return [f"{node}: {base}log {_entries(entries) if entries else '(empty)'}"]

    COMMANDS: ClassVar[dict[str, Callable[[_Runner, Harness[Any], list[str]], list[str]]]] = {
        "tick": _tick,
        "deliver": _deliver,
        "drop": _drop,
        "stabilize": _stabilize,
        "run": _run,
        "propose": _propose,
        "read": _read,
        "compact": _compact,
        "crash": _crash,
        "restart": _restart,
        "partition": _partition,
        "isolate": _isolate,
        "cut": _cut,
        "heal": _heal,
        "pending": _pending,
        "status": _status,
        "log": _log,
    }

    # -- helpers -----------------------------------------------------------

    def _matching(self, h: Harness[Any], args: list[str]) -> Callable[[Message], bool]:
        filters = _pairs(args)
        unknown = set(filters) - {"from", "to", "type"}
        if unknown:
            raise TranscriptError(f"unknown filter {sorted(unknown)}; use from=, to=, type=")
        src = _node(filters["from"]) if "from" in filters else None
        dst = _node(filters["to"]) if "to" in filters else None
        kinds = set(filters["type"].split(",")) if "type" in filters else None

        def matching(message: Message) -> bool:
            return (
                (src is None or message.src == src)
                and (dst is None or message.dst == dst)
                and (kinds is None or type(message).__name__ in kinds)
            )

        return matching

    def _ready(self, node: NodeId, ready: Ready) -> list[str]:
        assert self.harness is not None
        lines = []
        write = ready.write
        if write is not None:
            if write.snapshot is not None:
                lines.append(f"{node}: write snapshot {_snap(write.snapshot)}")
            if write.truncate_from is not None:
                lines.append(f"{node}: write truncate from {write.truncate_from}")
            if write.entries:
                lines.append(f"{node}: write entries {_entries(write.entries)}")
            if write.metadata:
                meta = " ".join(f"{k}={_value(v)}" for k, v in sorted(write.metadata.items()))
                lines.append(f"{node}: write meta {meta}")
            if write.stage is not None:
                part = write.stage
                lines.append(
                    f"{node}: write stage {_snap(part.meta)} bytes {part.offset}..{part.end}"
                )
        cut = self.harness.cut_links
        for message in ready.messages:
            suffix = " (cut)" if (message.src, message.dst) in cut else ""
            lines.append(_message(message) + suffix)
        if ready.restore is not None:
            lines.append(f"{node}: restore {_snap(ready.restore)}")
        if ready.committed:
            lines.append(f"{node}: apply {_entries(ready.committed)}")
        for reply in ready.replies:
            lines.append(f"{node}: reply {type(reply).__name__} {_fields(reply)}")
        return lines


def _pairs(args: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise TranscriptError(f"expected key=value, got {arg!r}")
        pairs[key] = value
    return pairs


def _node(text: str) -> NodeId:
    try:
        return int(text)
    except ValueError:
        raise TranscriptError(f"expected a node number, got {text!r}") from None


def _one(args: list[str]) -> str:
    if len(args) != 1:
        raise TranscriptError(f"expected one node, got {args}")
    return args[0]


def _bytes(data: bytes) -> str:
    text = data.decode("ascii", "backslashreplace")
    return '"' + (text if len(text) <= 40 else text[:37] + "...") + '"'


def _entry(entry: Entry) -> str:
    if entry.kind is EntryKind.NORMAL:
        return f"{entry.index}@{entry.term}={_bytes(entry.data)}"
    return f"{entry.index}@{entry.term}:{entry.kind.name.lower()}"


def _entries(entries: Sequence[Entry]) -> str:
    return " ".join(_entry(e) for e in entries)


def _snap(snapshot: SnapshotMeta) -> str:
    return f"{snapshot.index}@{snapshot.term}"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return _bytes(value)
    if isinstance(value, Entry):
        return _entry(value)
    if isinstance(value, SnapshotMeta):
        return f"snapshot({_snap(value)})"
    if isinstance(value, tuple):
        return "[" + " ".join(_value(v) for v in value) + "]"
    if isinstance(value, ConsensusError):
        args = value.__reduce__()[1]
        return f"{type(value).__name__}({', '.join(_value(a) for a in args)})"
    if value is not None and attrs.has(type(value)):
        return f"{type(value).__name__}({_fields(value)})"
    return str(value)


def _fields(value: object, skip: tuple[str, ...] = ()) -> str:
    cls = type(value)
    if not attrs.has(cls):
        return repr(value)
    return " ".join(
        f"{f.name}={_value(getattr(value, f.name))}"
        for f in attrs.fields(cls)
        if f.name not in skip
    )


def _message(message: Message) -> str:
    return f"{message.src}->{message.dst} {type(message).__name__} " + _fields(
        message, ("src", "dst")
    )
