"""The default run leaves the soaks out: tests marked ``slow`` (the long
remainder of the seeded sweeps, see ``tests.sweeps.soak``) run with
``--run-slow``, or when ``-m`` names the marker (``-m slow``: only them)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the tests marked slow (the soaks; left out by default)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or "slow" in (config.option.markexpr or ""):
        return
    soaks = [item for item in items if item.get_closest_marker("slow") is not None]
    if soaks:
        config.hook.pytest_deselected(items=soaks)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
