"""Benchmarks of pyconsensus (see docs/benchmarks.md); ``benchmarks.peers`` runs other systems."""
