"""Determinism across processes: the same log under different hash seeds.

A ``set`` or ``dict`` of strings iterates in an order fixed by the process's
hash seed, so a state machine that iterates one can agree with itself in one
process and disagree with its replica on another machine. This module runs
the commands in child Python processes, each with its own ``PYTHONHASHSEED``,
and compares them with ``check_determinism``'s rules.

It starts processes, so it lives with the CLI, outside the pure core.
``factory`` names an importable callable as ``"package.module:name"``.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence

from pyconsensus.testing.determinism import (
    MachineFactory,
    Step,
    divergence_message,
    first_divergence,
    run_replica,
)

DEFAULT_HASH_SEEDS = (1, 2, 3)


def load_factory(reference: str) -> MachineFactory:
    """The callable named ``"package.module:name"``."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'package.module:name', got {reference!r}")
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{reference} is not callable")
    return target


def _run_child(reference: str, commands: Sequence[bytes], hash_seed: int) -> list[Step]:
    request = json.dumps({"factory": reference, "commands": [c.hex() for c in commands]})
    # The child imports what this process can: the factory may live in a test
    # package that is importable only through pytest's additions to sys.path.
    path = os.pathsep.join(p for p in sys.path if p)
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-m", "pyconsensus.cli.hashseeds"],
        input=request,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"replica process for {reference} failed: {last}")
    rows = json.loads(done.stdout)
    return [Step(i, bytes.fromhex(r), bytes.fromhex(d)) for i, r, d in rows]


def check_across_hash_seeds(
    factory: str,
    commands: Sequence[bytes],
    hash_seeds: Sequence[int] = DEFAULT_HASH_SEEDS,
) -> None:
    """Raise ``NonDeterministic`` if replicas in processes with different
    ``PYTHONHASHSEED`` values answer ``commands`` differently or end a step in
    different states (digest: a hash of ``snapshot()``)."""
    if len(hash_seeds) < 2:
        raise ValueError("compare at least two hash seeds")
    runs = [(seed, _run_child(factory, commands, seed)) for seed in hash_seeds]
    first_seed, first = runs[0]
    for seed, steps in runs[1:]:
        found = first_divergence(first, steps)
        if found is not None:
            raise divergence_message(
                *found, commands, f"PYTHONHASHSEED={first_seed}", f"PYTHONHASHSEED={seed}"
            )


def _child() -> None:
    request = json.loads(sys.stdin.read())
    machine = load_factory(request["factory"])
    commands = [bytes.fromhex(c) for c in request["commands"]]
    steps = run_replica(machine, commands)
    json.dump([[s.index, s.result.hex(), s.digest.hex()] for s in steps], sys.stdout)


if __name__ == "__main__":
    _child()
