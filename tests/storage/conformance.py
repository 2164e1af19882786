"""The Storage conformance suite: what every ``Storage`` backend must do.

A backend plugs in with a ``Backend`` (how to open, reopen and crash it) and a
``backend`` fixture; subclass ``StorageConformance`` and every test below runs
against it::

    class TestMyStorage(StorageConformance):
        @pytest.fixture
        def backend(self, tmp_path: Path) -> Backend:
            return MyBackend(tmp_path)

``tests/storage/test_conformance.py`` does exactly that for ``MemoryStorage``
and ``LmdbStorage`` with one fixture parametrised over both.

The rules come from ``pyconsensus.core.storage.Storage`` and ``Write``: the
parts of a write apply in order (snapshot, truncation, entries, metadata);
entries may have holes; ``first_index``/``last_index`` follow the snapshot
when no entry is stored; and a write that returned survives a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping, Sequence
from typing import Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyconsensus.core.errors import StorageError
from pyconsensus.core.ready import Write
from pyconsensus.core.snapshots import SnapshotMeta, checksum, read_all, write_snapshot
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, EntryKind, MetaValue


class Backend(Protocol):
    """How the suite drives one kind of storage."""

    atomic_on_error: bool
    """Whether a write that raises leaves no trace at all."""

    def open(self) -> Storage:
        """A storage on fresh, empty state (each call: new state)."""
        ...

    def reopen(self, storage: Storage) -> Storage:
        """Close ``storage`` cleanly and open the same state again."""
        ...

    def crash(self, storage: Storage) -> Storage:
        """Lose ``storage`` as a crash would (no clean close) and recover it."""
        ...


def entry(index: int, term: int = 1, data: bytes | None = None) -> Entry:
    return Entry(index, term, data if data is not None else f"e{index}".encode())


def entries(indices: Iterable[int], term: int = 1) -> list[Entry]:
    return [entry(i, term) for i in indices]


def indices(storage: Storage, lo: int = 0, hi: int = 1 << 62) -> list[int]:
    return [e.index for e in storage.entries(lo, hi)]


class Model:
    """The specification as the simplest code that could state it."""

    def __init__(self) -> None:
        self.metadata: dict[str, MetaValue] = {}
        self.snapshot: SnapshotMeta | None = None
        self.log: dict[int, Entry] = {}

    def floor(self) -> int:
        return self.snapshot.index if self.snapshot is not None else 0

    def apply(self, write: Write) -> None:
        if write.snapshot is not None:
            self.snapshot = write.snapshot
            self.log = {i: e for i, e in self.log.items() if i > write.snapshot.index}
        if write.truncate_from is not None:
            cut = write.truncate_from
            self.log = {i: e for i, e in self.log.items() if i < cut}
        for e in write.entries:
            self.log[e.index] = e
        self.metadata.update(write.metadata)

    def valid(self, write: Write) -> bool:
        floor = write.snapshot.index if write.snapshot is not None else self.floor()
        return all(e.index > floor for e in write.entries)

    def last_index(self) -> int:
        return max(self.log) if self.log else self.floor()

    def first_index(self) -> int:
        return min(self.log) if self.log else self.last_index() + 1

    def assert_matches(self, storage: Storage) -> None:
        assert dict(storage.metadata()) == self.metadata
        assert storage.snapshot() == self.snapshot
        assert storage.last_index() == self.last_index()
        assert storage.first_index() == self.first_index()
        assert storage.entries(0, 1 << 62) == [self.log[i] for i in sorted(self.log)]


# -- generated writes for the model test ------------------------------------

_index = st.integers(min_value=1, max_value=40)
_entries = st.lists(
    st.builds(
        Entry,
        index=_index,
        term=st.integers(min_value=0, max_value=5),
        data=st.binary(max_size=12),
        kind=st.sampled_from(list(EntryKind)),
    ),
    max_size=6,
)
_meta_values: st.SearchStrategy[MetaValue] = st.one_of(
    st.none(), st.integers(-(2**70), 2**70), st.text(max_size=5), st.binary(max_size=5)
)
_writes = st.builds(
    Write,
    metadata=st.dictionaries(st.sampled_from(["term", "vote", "epoch", "x"]), _meta_values),
    entries=_entries,
    truncate_from=st.none() | _index,
    snapshot=st.none()
    | st.builds(
        lambda index, term, data: SnapshotMeta(index, term, None, len(data), checksum(data)),
        _index,
        st.integers(0, 5),
        st.just(b"s"),
    ),
)


def snap(storage: Storage, index: int, term: int, data: bytes) -> SnapshotMeta:
    """``data`` as a complete snapshot in ``storage``'s store, ready for ``Write.snapshot``."""
    return write_snapshot(storage.snapshots, index, term, data)


def held(storage: Storage) -> tuple[int, int, bytes] | None:
    """The current snapshot of ``storage``: index, term and bytes."""
    meta = storage.snapshot()
    if meta is None:
        return None
    return meta.index, meta.term, read_all(storage.snapshots.open(meta))


class StorageConformance:
    """Every test takes the ``backend`` fixture a subclass provides."""

    # -- an empty storage ---------------------------------------------------

    def test_a_new_storage_is_empty(self, backend: Backend) -> None:
        storage = backend.open()
        assert dict(storage.metadata()) == {}
        assert storage.snapshot() is None
        assert storage.last_index() == 0
        assert storage.first_index() == 1
        assert storage.entries(0, 100) == []

    # -- identity -------------------------------------------------------------

    def test_the_incarnation_is_kept_across_reopens_and_crashes(self, backend: Backend) -> None:
        storage = backend.open()
        incarnation = storage.incarnation
        assert type(incarnation) is str and incarnation
        storage.write(Write(entries=entries([1])))
        storage = backend.reopen(storage)
        assert storage.incarnation == incarnation
        storage = backend.crash(storage)
        assert storage.incarnation == incarnation

    def test_every_new_storage_is_a_new_incarnation(self, backend: Backend) -> None:
        assert backend.open().incarnation != backend.open().incarnation

    def test_an_empty_write_changes_nothing(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write())
        assert storage.last_index() == 0
        assert dict(storage.metadata()) == {}

    # -- entries ------------------------------------------------------------

    def test_entries_read_back_in_index_order_whatever_the_write_order(
        self, backend: Backend
    ) -> None:
        storage = backend.open()
        storage.write(Write(entries=[entry(3), entry(1), entry(2)]))
        assert storage.entries(1, 4) == [entry(1), entry(2), entry(3)]

    def test_a_range_is_half_open_and_clipped_to_what_is_stored(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(1, 11))))
        assert indices(storage, 3, 6) == [3, 4, 5]
        assert indices(storage, -5, 3) == [1, 2]
        assert indices(storage, 9, 1000) == [9, 10]
        assert indices(storage, 6, 6) == []
        assert indices(storage, 7, 2) == []
        assert indices(storage, 11, 20) == []

    def test_first_and_last_index_follow_the_stored_entries(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(4, 8))))
        assert (storage.first_index(), storage.last_index()) == (4, 7)

    def test_holes_are_allowed_and_skipped_by_range_reads(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=[entry(2), entry(5), entry(9)]))
        assert (storage.first_index(), storage.last_index()) == (2, 9)
        assert indices(storage) == [2, 5, 9]
        assert indices(storage, 3, 9) == [5]
        storage.write(Write(entries=[entry(7)]))
        assert indices(storage) == [2, 5, 7, 9]

    def test_putting_an_entry_at_a_stored_index_replaces_it(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(1, 4), term=1)))
        storage.write(Write(entries=[entry(2, term=5, data=b"new")]))
        assert storage.entries(2, 3) == [Entry(2, 5, b"new")]
        assert indices(storage) == [1, 2, 3]

    def test_entry_kind_term_and_data_are_preserved(self, backend: Backend) -> None:
        storage = backend.open()
        stored = [
            Entry(1, 0, b"", EntryKind.NOOP),
            Entry(2, 7, bytes(range(256)), EntryKind.CONFIG),
            Entry(3, 2**63, b"\x00" * 3, EntryKind.NORMAL),
        ]
        storage.write(Write(entries=stored))
        assert storage.entries(1, 4) == stored

    def test_a_large_entry_round_trips(self, backend: Backend) -> None:
        storage = backend.open()
        big = Entry(1, 1, bytes(range(256)) * 4096)  # 1 MiB
        storage.write(Write(entries=[big]))
        assert storage.entries(1, 2) == [big]

    def test_many_entries_in_one_write(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(1, 5001))))
        assert storage.last_index() == 5000
        assert indices(storage, 2500, 2503) == [2500, 2501, 2502]
        assert len(storage.entries(0, 10_000)) == 5000

    # -- truncation ---------------------------------------------------------

    def test_truncation_removes_the_suffix_from_an_index(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(1, 11))))
        storage.write(Write(truncate_from=6))
        assert indices(storage) == [1, 2, 3, 4, 5]
        assert storage.last_index() == 5

    def test_truncation_past_the_end_changes_nothing(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(1, 4))))
        storage.write(Write(truncate_from=10))
        assert indices(storage) == [1, 2, 3]

    def test_truncating_everything_falls_back_to_the_snapshot(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(snapshot=snap(storage, 3, 1, b"s"), entries=entries(range(4, 8))))
        storage.write(Write(truncate_from=1))
        assert storage.entries(0, 100) == []
        assert (storage.first_index(), storage.last_index()) == (4, 3)

    def test_entries_of_the_same_write_land_after_its_truncation(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(1, 8), term=1)))
        storage.write(Write(truncate_from=4, entries=entries([4, 5], term=2)))
        assert [(e.index, e.term) for e in storage.entries(0, 100)] == [
            (1, 1),
            (2, 1),
            (3, 1),
            (4, 2),
            (5, 2),
        ]

    # -- snapshots ----------------------------------------------------------

    def test_a_snapshot_discards_the_entries_it_covers(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(1, 11))))
        storage.write(Write(snapshot=snap(storage, 6, 1, b"state")))
        assert held(storage) == (6, 1, b"state")
        assert indices(storage) == [7, 8, 9, 10]
        assert (storage.first_index(), storage.last_index()) == (7, 10)

    def test_a_snapshot_past_the_log_leaves_no_entries(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(1, 4))))
        storage.write(Write(snapshot=snap(storage, 9, 2, b"s")))
        assert storage.entries(0, 100) == []
        assert (storage.first_index(), storage.last_index()) == (10, 9)

    def test_a_new_snapshot_replaces_the_old_one(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(snapshot=snap(storage, 3, 1, b"old")))
        storage.write(Write(snapshot=snap(storage, 5, 2, b"new")))
        assert held(storage) == (5, 2, b"new")

    def test_the_snapshot_applies_before_the_entries_of_its_write(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(entries=entries(range(1, 6))))
        storage.write(Write(snapshot=snap(storage, 5, 1, b"s"), entries=entries([6, 7])))
        assert indices(storage) == [6, 7]

    def test_an_entry_at_or_below_the_snapshot_index_is_refused(self, backend: Backend) -> None:
        storage = backend.open()
        with pytest.raises(StorageError):
            storage.write(Write(snapshot=snap(storage, 5, 1, b"s"), entries=[entry(5)]))
        storage = backend.open()
        storage.write(Write(snapshot=snap(storage, 5, 1, b"s")))
        with pytest.raises(StorageError):
            storage.write(Write(entries=[entry(3)]))
        with pytest.raises(StorageError):
            storage.write(Write(entries=[entry(0)]))

    def test_a_refused_write_leaves_no_trace(
        self, backend: Backend, request: pytest.FixtureRequest
    ) -> None:
        if not backend.atomic_on_error:
            # Strict: the day the backend becomes atomic, this reports it.
            reason = "this backend applies part of a write before refusing it"
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
        storage = backend.open()
        storage.write(Write(metadata={"k": 1}, entries=entries(range(1, 6))))
        with pytest.raises(StorageError):
            storage.write(
                Write(
                    metadata={"k": 2},
                    snapshot=snap(storage, 4, 1, b"s"),
                    truncate_from=5,
                    entries=[entry(2)],
                )
            )
        assert dict(storage.metadata()) == {"k": 1}
        assert storage.snapshot() is None
        assert indices(storage) == [1, 2, 3, 4, 5]

    # -- metadata -----------------------------------------------------------

    def test_metadata_writes_merge_key_by_key(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(metadata={"raft.term": 1, "raft.vote": 2}))
        storage.write(Write(metadata={"raft.term": 2}))
        assert dict(storage.metadata()) == {"raft.term": 2, "raft.vote": 2}

    def test_metadata_values_keep_their_types(self, backend: Backend) -> None:
        storage = backend.open()
        values: dict[str, MetaValue] = {
            "none": None,
            "zero": 0,
            "negative": -(2**70),
            "big": 2**100,
            "text": "żółw",
            "empty": "",
            "bytes": b"\x00\xff",
            "no bytes": b"",
        }
        storage.write(Write(metadata=values))
        stored = dict(storage.metadata())
        assert stored == values
        assert {k: type(v) for k, v in stored.items()} == {k: type(v) for k, v in values.items()}

    def test_metadata_returned_is_a_copy(self, backend: Backend) -> None:
        storage = backend.open()
        storage.write(Write(metadata={"k": 1}))
        view = storage.metadata()
        if isinstance(view, MutableMapping):
            view["k"] = 99
        assert dict(storage.metadata()) == {"k": 1}

    # -- durability ---------------------------------------------------------

    def test_everything_written_survives_a_reopen(self, backend: Backend) -> None:
        storage = backend.open()
        model = Model()
        for write in (
            Write(metadata={"term": 3, "vote": None}, entries=entries(range(1, 20))),
            Write(snapshot=snap(storage, 5, 1, b"snap"), truncate_from=15),
            Write(entries=[entry(15, 2), entry(18, 2)], metadata={"term": 4}),
        ):
            storage.write(write)
            model.apply(write)
        storage = backend.reopen(storage)
        model.assert_matches(storage)

    def test_every_write_that_returned_survives_a_crash(self, backend: Backend) -> None:
        storage = backend.open()
        model = Model()
        for i in range(1, 6):
            write = Write(metadata={"term": i}, entries=entries(range(i * 10, i * 10 + 5)))
            storage.write(write)
            model.apply(write)
            storage = backend.crash(storage)
            model.assert_matches(storage)

    # -- the model ------------------------------------------------------------

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(writes=st.lists(_writes, min_size=1, max_size=8), reopen_at=st.integers(0, 8))
    def test_any_sequence_of_writes_matches_the_model(
        self, backend: Backend, writes: Sequence[Write], reopen_at: int
    ) -> None:
        storage = backend.open()
        model = Model()
        for step, write in enumerate(writes):
            if write.snapshot is not None:  # its bytes are complete in the store first
                meta = write.snapshot
                assert snap(storage, meta.index, meta.term, b"s") == meta
            if model.valid(write):
                storage.write(write)
                model.apply(write)
            else:
                with pytest.raises(StorageError):
                    storage.write(write)
                if not backend.atomic_on_error:
                    return  # the backend's state is unspecified after a refusal
            model.assert_matches(storage)
            if step == reopen_at:
                storage = backend.reopen(storage)
                model.assert_matches(storage)
        storage = backend.reopen(storage)
        model.assert_matches(storage)
        storage.close()
