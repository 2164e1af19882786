"""Peer benchmarks: etcd, ZooKeeper and PySyncObj under the standard workload of issue 8
(``python -m benchmarks.peers.<name>_peer``; see docs/benchmarks.md)."""
