"""Pieces of the peer scripts that need no server: wire encodings, parsers, the load
recorder, and process handling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.peers.etcd_peer import put_request
from benchmarks.peers.loadgen import Recorder, WorkerSpec, make_keys, make_value
from benchmarks.peers.procs import ProcessSet, cpu_seconds, free_ports, peak_rss_mb
from benchmarks.peers.pysyncobj_peer import HEADER, PUT, frame, split_frames
from benchmarks.peers.zookeeper_peer import parse_srvr


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


@given(st.binary(max_size=300), st.binary(max_size=70_000))
def test_etcd_put_request_is_protobuf_fields_1_and_2(key: bytes, value: bytes) -> None:
    message = put_request(key, value)
    assert message[0] == (1 << 3) | 2  # field 1, length-delimited
    length, at = read_varint(message, 1)
    assert message[at : at + length] == key
    at += length
    assert message[at] == (2 << 3) | 2
    length, at = read_varint(message, at + 1)
    assert message[at : at + length] == value and at + length == len(message)


@given(st.lists(st.binary(max_size=200), max_size=20), st.integers(0, 50))
def test_pysyncobj_frames_split_back_whatever_the_chunking(bodies: list[bytes], cut: int) -> None:
    stream = b"".join(frame(PUT, i, body) for i, body in enumerate(bodies))
    buffer = bytearray()
    received = []
    for start in range(0, len(stream), cut + 1):
        buffer += stream[start : start + cut + 1]
        received += split_frames(buffer)
    assert buffer == b""
    assert [f[HEADER.size :] for f in received] == bodies
    assert [HEADER.unpack_from(f) for f in received] == [(PUT, i) for i in range(len(bodies))]


def test_srvr_answer_parses_into_fields() -> None:
    answer = "Zookeeper version: 3.8.0-debian\nLatency min/avg/max: 0/0.1/3\nZxid: 0x200000007\n"
    answer += "Mode: leader\nNode count: 10005\n"
    fields = parse_srvr(answer)
    assert fields["Mode"] == "leader"
    assert int(fields["Zxid"], 16) >> 32 == 2
    assert fields["Zookeeper version"] == "3.8.0-debian"


def test_the_recorder_counts_only_acknowledgements_inside_the_window() -> None:
    recorder = Recorder(t0=100.0, warmup=2.0, duration=10.0)
    recorder.record(began=101.0, ended=101.5)  # warm-up
    recorder.record(began=101.9, ended=102.1)  # issued in warm-up, acknowledged inside
    recorder.record(began=105.0, ended=105.004)
    recorder.record(began=111.99, ended=112.0)  # at the end: outside
    recorder.failed(ended=106.0, error=TimeoutError("slow"))
    assert recorder.completed == 2
    assert [round(x, 6) for x in recorder.latencies_ms] == [200.0, 4.0]
    assert recorder.errors == 1 and "slow" in recorder.first_error


def test_worker_specs_round_trip_through_json() -> None:
    spec = WorkerSpec(
        index=1,
        processes=2,
        target="127.0.0.1:1",
        clients=8,
        keys=10,
        payload=100,
        warmup=1.0,
        duration=2.0,
        out="/x",
        seed=3,
        extra={"client": "grpc"},
    )
    assert WorkerSpec.from_json(spec.to_json()) == spec


def test_keys_and_values_are_the_workloads() -> None:
    keys = make_keys(10_000)
    assert len(set(keys)) == 10_000 and {len(k) for k in keys} == {6}
    assert len(make_value(100, 1)) == 100 and make_value(100, 1) == make_value(100, 1)


def test_process_set_stops_what_it_started_by_pid(tmp_path: Path) -> None:
    with ProcessSet(grace=5) as procs:
        proc = procs.start(
            [sys.executable, "-c", "import time; time.sleep(600)"], log=tmp_path / "log"
        )
        assert proc.poll() is None
        assert cpu_seconds(proc.pid) >= 0 and peak_rss_mb(proc.pid) > 0
    assert proc.returncode is not None and proc.returncode < 0


def test_process_set_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code += "print('ready', flush=True); time.sleep(600)"
    procs = ProcessSet(grace=0.5)
    proc = procs.start([sys.executable, "-c", code], log=tmp_path / "log", pipes=True)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    procs.stop_all()
    assert proc.returncode == -9


def test_own_process_figures_are_plausible() -> None:
    assert cpu_seconds(os.getpid()) > 0
    assert 1 < peak_rss_mb(os.getpid()) < 10_000


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(6)
    assert len(set(ports)) == 6
    assert (
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import socket; socket.socket().bind(('127.0.0.1', {ports[0]}))",
            ],
            check=False,
        ).returncode
        == 0
    )
