"""State machines for the testing kit's own tests: the example's counter, and
machines that break determinism in each of the usual ways. Importable by
name (``tests.testing.machines:...``) for the cross-process check."""

from __future__ import annotations

import importlib.util
import random
import sys
import time
from pathlib import Path
from types import ModuleType

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "testing_kit" / "counter.py"


def load_example() -> ModuleType:
    """examples/testing_kit/counter.py, imported once under the name it uses there."""
    if "counter" in sys.modules:
        return sys.modules["counter"]
    spec = importlib.util.spec_from_file_location("counter", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["counter"] = module
    spec.loader.exec_module(module)
    return module


class _Base:
    def query(self, query: bytes) -> bytes:
        return self.snapshot()

    def snapshot(self) -> bytes:
        raise NotImplementedError

    def restore(self, data: bytes) -> None:
        raise NotImplementedError


class Stamped(_Base):
    """Records the wall-clock time of each command: replicas apply at different times."""

    def __init__(self) -> None:
        self.last = 0.0

    def apply(self, command: bytes) -> bytes:
        self.last = time.time()
        return b"ok"

    def snapshot(self) -> bytes:
        return repr(self.last).encode()

    def restore(self, data: bytes) -> None:
        self.last = float(data)


class Dice(_Base):
    """Answers with a roll of the global random generator."""

    def __init__(self) -> None:
        self.rolls = 0

    def apply(self, command: bytes) -> bytes:
        self.rolls += 1
        return b"%d" % random.randint(1, 10**9)

    def snapshot(self) -> bytes:
        return b"%d" % self.rolls

    def restore(self, data: bytes) -> None:
        self.rolls = int(data)


class Names(_Base):
    """Answers with its set of names in iteration order: the same within one
    process, different across hash seeds."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def apply(self, command: bytes) -> bytes:
        self.names.add(command.decode())
        return ",".join(self.names).encode()

    def snapshot(self) -> bytes:
        return ",".join(sorted(self.names)).encode()

    def restore(self, data: bytes) -> None:
        self.names = set(data.decode().split(",")) if data else set()


class Balances(_Base):
    """Answers the float sum of its balances, in dict order - which a restore
    (sorted by key) changes, and with it the rounding."""

    def __init__(self) -> None:
        self.balances: dict[str, float] = {}

    def apply(self, command: bytes) -> bytes:
        key, _, amount = command.decode().partition(":")
        self.balances[key] = self.balances.get(key, 0.0) + float(amount)
        return repr(sum(self.balances.values())).encode()

    def snapshot(self) -> bytes:
        return ";".join(f"{k}:{v!r}" for k, v in sorted(self.balances.items())).encode()

    def restore(self, data: bytes) -> None:
        pairs = (item.partition(":") for item in data.decode().split(";") if item)
        self.balances = {k: float(v) for k, _, v in pairs}


class Forgetful(_Base):
    """Counts commands but leaves the count out of its snapshot."""

    def __init__(self) -> None:
        self.total = 0
        self.commands = 0

    def apply(self, command: bytes) -> bytes:
        self.total += len(command)
        self.commands += 1
        return b"%d/%d" % (self.total, self.commands)

    def snapshot(self) -> bytes:
        return b"%d" % self.total

    def restore(self, data: bytes) -> None:
        self.total = int(data)
