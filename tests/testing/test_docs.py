"""docs/testing.md stays true: its tests of the tutorial's counters service run
as written, against the tutorial's own ``counters.py``."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def code_block(page: Path, name: str) -> str:
    """The code block of ``page`` that starts with ``# <name>``."""
    for code in re.findall(r"```\w+\n(.*?)```", page.read_text(), re.S):
        if code.startswith(f"# {name}\n"):
            return str(code)
    raise AssertionError(f"no {name} in {page.name}")


@pytest.fixture
def written(tmp_path: Path) -> Iterator[Path]:
    """The two files, side by side, importable as a user would have them."""
    (tmp_path / "counters.py").write_text(code_block(DOCS / "tutorial.md", "counters.py"))
    (tmp_path / "test_counters.py").write_text(code_block(DOCS / "testing.md", "test_counters.py"))
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for module in ("counters", "test_counters"):
            sys.modules.pop(module, None)


def test_the_counters_service_tests_of_the_docs_pass(written: Path) -> None:
    import test_counters  # type: ignore[import-not-found]  # noqa: PLC0415 - written by the fixture

    test_counters.test_counters_are_linearizable_under_every_fault()
    test_counters.test_counters_are_deterministic_and_refuse_bad_commands_alike()
    assert test_counters.CountersWorkload().model().describe(3) == "value 3"
