"""``pyconsensus bench``: the benchmarks behind docs/benchmarks.md.

``command`` parses the subcommands; ``core`` measures a pure core's throughput
in the simulator, ``linearizability`` the history checker, ``memory`` a
replica's resident memory. The adapters' own benchmarks (codec, storage,
cluster) live beside them in ``pyconsensus.adapters.*.bench``. These modules
may read the clock: they measure.
"""

from pyconsensus.cli.bench.command import register

__all__ = ["register"]
