"""The failures ``pyconsensus.testing`` reports.

Each is an ``AssertionError``, so pytest shows it as a failed test (not as an
error in the test's machinery), and each message says what went wrong and how
to see it again.
"""

from __future__ import annotations


class SimulationFailed(AssertionError):
    """A simulated run broke a safety property, liveness, or linearizability.

    ``seed`` reproduces it; ``replay`` (JSON text, see ``pyconsensus.sim.replay``)
    reproduces it exactly, shrunk schedule included; ``picture`` is a
    self-contained HTML space-time diagram of the run. The pytest plugin writes
    both next to the test report.
    """

    def __init__(self, message: str, *, seed: int, replay: str, picture: str) -> None:
        super().__init__(message)
        self.seed = seed
        self.replay = replay
        self.picture = picture


class NotLinearizable(AssertionError):
    """A client history has no legal sequential order under the model."""


class NonDeterministic(AssertionError):
    """Two replicas of a state machine diverged on the same committed log.

    ``index`` is the first log position (from 1) after which they differ.
    """

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class Timeout(AssertionError):
    """Something awaited in virtual time did not happen before its deadline."""
