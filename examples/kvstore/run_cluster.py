"""The whole example in one script: start three nodes, use the client, stop.

    python run_cluster.py

Each node is a separate ``pyconsensus node`` process (their output goes to
data/node-N.log); the script runs a few client commands, kills the leader to
show that the service carries on, and stops everything at the end.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "cluster.toml"


def kv(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(HERE / "kv.py"), "--config", str(CONFIG), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    out = (done.stdout + done.stderr).strip()
    print(f"$ python kv.py {' '.join(args)}\n{out}")
    return out


def leader() -> int | None:
    """The node whose status line says it leads (``node 2: leader ...``)."""
    for line in kv("status").splitlines():
        words = line.split()
        if len(words) > 2 and words[0] == "node" and words[2] == "leader":
            return int(words[1].rstrip(":"))
    return None


def main() -> int:
    (HERE / "data").mkdir(exist_ok=True)
    nodes: dict[int, subprocess.Popen[bytes]] = {}

    def start(node: int) -> None:
        log = (HERE / "data" / f"node-{node}.log").open("ab")
        nodes[node] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyconsensus",
                "node",
                "--config",
                str(CONFIG),
                "--id",
                str(node),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=HERE,
        )

    try:
        for node in (1, 2, 3):
            start(node)
        deadline = time.monotonic() + 30
        while (current := leader()) is None:
            if time.monotonic() > deadline:
                print("no leader after 30 s; see data/node-*.log")
                return 1
            time.sleep(0.5)
        kv("put", "color", "blue")
        kv("get", "color")
        kv("cas", "color", "blue", "green")
        kv("cas", "color", "blue", "red")  # refused: the value is green now
        print(f"\n# kill -9 the leader (node {current}); the others elect a new one\n")
        nodes[current].send_signal(signal.SIGKILL)
        nodes[current].wait()
        kv("get", "color")
        kv("put", "shape", "round")
        kv("range")
        print(f"\n# restart node {current}: it recovers from its LMDB files and catches up\n")
        start(current)
        time.sleep(1.0)
        kv("delete", "shape")
        kv("status")
        return 0
    finally:
        for process in nodes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in nodes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
