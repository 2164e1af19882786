"""``Outbox``: where a core accumulates its output between two ``ready()`` calls.

Every protocol needs the same bookkeeping - coalesce metadata changes, keep
buffered entries consistent with truncations and snapshots, queue messages and
replies - so it lives here once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyconsensus.core.ready import Message, Ready, Reply, Write
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStage
from pyconsensus.core.types import Entry, MetaValue


class Outbox:
    """Pending output of one node. ``take()`` drains it into a ``Ready``."""

    __slots__ = (
        "_entries",
        "_metadata",
        "_restore",
        "_snapshot",
        "_stage",
        "_truncate_from",
        "early_messages",
        "messages",
        "replies",
    )

    def __init__(self) -> None:
        self._metadata: dict[str, MetaValue] = {}
        self._entries: list[Entry] = []
        self._truncate_from: int | None = None
        self._snapshot: SnapshotMeta | None = None
        self._restore: SnapshotMeta | None = None
        self._stage: SnapshotStage | None = None
        self.messages: list[Message] = []
        self.early_messages: list[Message] = []
        self.replies: list[Reply] = []

    # -- the durable write -------------------------------------------------

    def set_metadata(self, key: str, value: MetaValue) -> None:
        self._metadata[key] = value

    def put(self, entries: Iterable[Entry]) -> None:
        """Persist ``entries`` (in addition to anything already buffered)."""
        self._entries.extend(entries)

    def put_one(self, entry: Entry) -> None:
        self._entries.append(entry)

    def truncate(self, from_index: int) -> None:
        """Remove stored entries at or above ``from_index``."""
        if self._entries and self._entries[-1].index >= from_index:
            self._entries = [e for e in self._entries if e.index < from_index]
        if self._truncate_from is None or from_index < self._truncate_from:
            self._truncate_from = from_index

    def snapshot(self, snapshot: SnapshotMeta, *, discard_log: bool, restore: bool) -> None:
        """Make ``snapshot`` (complete in the store) current and compact the log
        to it. ``discard_log`` also drops every entry after it; ``restore`` asks
        the application to load it into its state machine."""
        if discard_log:
            self._entries = []
            self.truncate(snapshot.index + 1)
        elif self._entries and self._entries[0].index <= snapshot.index:
            self._entries = [e for e in self._entries if e.index > snapshot.index]
        self._snapshot = snapshot
        if restore:
            self._restore = snapshot

    def restore(self, snapshot: SnapshotMeta) -> None:
        """Ask the application to load ``snapshot`` (installing it first if it is
        the one staged) without recording it again."""
        self._restore = snapshot

    def stage(self, part: SnapshotStage) -> None:
        """Stage bytes of a snapshot being received. Parts staged before the
        next ``take`` merge into one (they continue each other); a part at
        offset 0 of another snapshot replaces them."""
        held = self._stage
        if held is not None and held.meta == part.meta and held.end == part.offset:
            part = SnapshotStage(part.meta, held.offset, held.data + part.data)
        elif held is not None and part.offset != 0:
            raise ValueError(f"stage at {part.offset} does not continue the one held")
        self._stage = part

    # -- messages and replies ----------------------------------------------

    def send(self, message: Message) -> None:
        self.messages.append(message)

    def send_early(self, message: Message) -> None:
        """Queue a message that depends on no write (``Ready.early_messages``)."""
        self.early_messages.append(message)

    def reply(self, reply: Reply) -> None:
        self.replies.append(reply)

    # -- draining ----------------------------------------------------------

    def has_output(self) -> bool:
        return bool(
            self.messages
            or self.early_messages
            or self.replies
            or self._entries
            or self._metadata
            or self._truncate_from is not None
            or self._snapshot is not None
            or self._stage is not None
            or self._restore is not None
        )

    def take(self, committed: Sequence[Entry] = ()) -> Ready:
        """Drain everything buffered into one ``Ready`` with ``committed``."""
        write: Write | None = None
        if (
            self._entries
            or self._metadata
            or self._truncate_from is not None
            or self._snapshot is not None
            or self._stage is not None
        ):
            write = Write(
                metadata=self._metadata,
                entries=self._entries,
                truncate_from=self._truncate_from,
                snapshot=self._snapshot,
                stage=self._stage,
            )
            self._stage = None
            self._metadata = {}
            self._entries = []
            self._truncate_from = None
            self._snapshot = None
        ready = Ready(
            write=write,
            messages=self.messages,
            restore=self._restore,
            committed=committed,
            replies=self.replies,
            early_messages=self.early_messages,
        )
        self.messages = []
        if self.early_messages:
            self.early_messages = []
        self.replies = []
        self._restore = None
        return ready
