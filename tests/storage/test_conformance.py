"""Runs the conformance suite against every storage backend in this repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.backends import LmdbBackend, MemoryBackend
from tests.storage.conformance import Backend, StorageConformance


@pytest.fixture(params=["memory", "lmdb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    chosen: MemoryBackend | LmdbBackend
    if request.param == "memory":
        chosen = MemoryBackend()
    else:
        pytest.importorskip("lmdb")
        chosen = LmdbBackend(tmp_path)
    yield chosen
    chosen.close_all()


class TestStorageConformance(StorageConformance):
    """The suite, once per backend of the ``backend`` fixture."""
