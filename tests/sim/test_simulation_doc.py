"""docs/simulation.md's tutorial runs as written: its Python blocks, in order,
as one script - with fewer seeds than the 200 the page sweeps, to stay fast -
and the page's claim about the forgetful counter holds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs

from pyconsensus.sim import sweep
from pyconsensus.sim.checkers.raft import SPEC

PAGE = Path(__file__).resolve().parents[2] / "docs" / "simulation.md"
SEEDS_ON_THE_PAGE = "range(200)"
SEEDS_HERE = "range(4)"


def tutorial_blocks() -> list[str]:
    """The ```python blocks of the page's "Tutorial" section, in order."""
    text = PAGE.read_text()
    start = text.index("## Tutorial")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)


def run_tutorial() -> dict[str, Any]:
    script = "\n".join(tutorial_blocks())
    assert script.count(SEEDS_ON_THE_PAGE) == 1
    namespace: dict[str, Any] = {"__name__": "tutorial"}
    exec(compile(script.replace(SEEDS_ON_THE_PAGE, SEEDS_HERE), str(PAGE), "exec"), namespace)
    return namespace


def test_the_tutorial_code_runs_as_written_and_its_sweep_passes() -> None:
    namespace = run_tutorial()
    assert namespace["result"].ok  # the page asserts it too
    assert namespace["result"].operations_checked > 4 * 100


def test_the_forgetful_counter_of_the_page_is_caught_at_the_first_seed() -> None:
    namespace = run_tutorial()
    workload = namespace["CounterWorkload"]
    forgetful = namespace["ForgetfulCounter"]

    class ForgetfulWorkload(workload):  # type: ignore[misc, valid-type]
        def new_machine(self) -> Any:
            return forgetful()

    config = attrs.evolve(namespace["config"], compact_every=16)
    result = sweep(SPEC, range(1), config, workload=ForgetfulWorkload)
    assert not result.ok
    assert "Linearizability" in str(result.failures[0].violation)
