"""``pyconsensus node --config cluster.toml --id N``: run one node of a service.

The cluster file (see ``pyconsensus.adapters.trio.config``) names the state
machine to replicate as ``state_machine = "module:Class"`` (default: the
built-in key-value store, ``pyconsensus.rsm.kv:KVStateMachine``); modules are
looked up next to the cluster file first. The node runs until SIGINT or
SIGTERM and then shuts down cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import sys
from pathlib import Path
from typing import Any

from pyconsensus.cli.extras import lacks_runtime
from pyconsensus.core.errors import ConfigError, ConsensusError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "node",
        help="run one node of a replicated service from a cluster file",
        description="Run one node of a replicated state machine (trio runtime, TCP, LMDB).",
    )
    parser.add_argument("--config", required=True, help="the cluster file (TOML)")
    parser.add_argument("--id", type=int, required=True, help="this node's id in [members]")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=None,
        help="text lines, or one JSON object per line (default: [observe] log_format, or text)",
    )
    parser.add_argument(
        "--metrics",
        metavar="ADDRESS",
        default=None,
        help="serve /metrics and /health at host:port, or a port on 127.0.0.1 "
        "(default: [observe] metrics; needs the metrics extra)",
    )
    parser.add_argument(
        "--join",
        action="store_true",
        help="join the running cluster of the file's members as a new node: start as a "
        "learner (never bootstrap a cluster of its own), promoted once caught up",
    )
    parser.add_argument(
        "--listen", metavar="ADDRESS", default=None, help="host:port this node listens on"
    )
    parser.add_argument(
        "--stay-learner",
        action="store_true",
        help="with --join: stay a learner until an operator promotes it",
    )
    # For tests and the demo: fault injection by signal, and a lifeline to the parent.
    parser.add_argument("--fault-signals", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(run=run_node)


def load_state_machine(spec: str, search: Path | None = None) -> Any:
    """An instance of ``module:Class`` (``search`` is tried first for the module)."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise ConfigError(f"state_machine must look like 'module:Class', got {spec!r}")
    if search is not None and str(search) not in sys.path:
        sys.path.insert(0, str(search))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import the state machine module {module_name!r}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError(f"module {module_name!r} has no {class_name!r}")
    return cls()


def with_observe_options(config: Any, args: argparse.Namespace) -> Any:
    """``config`` with ``--log-format`` and ``--metrics`` applied; ``ConfigError``
    (one line, naming the extra) if metrics are wanted without ``prometheus_client``."""
    import attrs  # noqa: PLC0415

    from pyconsensus.adapters.trio.config import metrics_address  # noqa: PLC0415
    from pyconsensus.adapters.trio.metrics import require_prometheus  # noqa: PLC0415

    observe = config.observe
    if args.log_format is not None:
        observe = attrs.evolve(observe, log_format=args.log_format)
    if args.metrics is not None:
        observe = attrs.evolve(observe, metrics=metrics_address(args.metrics))
    if observe.metrics is not None:
        require_prometheus()
    return attrs.evolve(config, observe=observe)


def run_node(args: argparse.Namespace) -> int:
    """Run the node; every failure to start is one line on stderr and status 2."""
    if lacks_runtime("node"):
        return 2
    import trio  # noqa: PLC0415 (see demo_command.run_demo)

    from pyconsensus.adapters.trio.events import configure_logging  # noqa: PLC0415
    from pyconsensus.cli.node_service import Serving, serve  # noqa: PLC0415

    try:
        config = with_observe_options(_node_config(args), args)
        configure_logging(args.log_level, config.observe.log_format, args.id)
        machine = load_state_machine(config.state_machine, Path(args.config).resolve().parent)
    except ConfigError as exc:
        return _refuse(f"pyconsensus node: {exc}")
    serving = Serving()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            trio.run(
                functools.partial(
                    serve,
                    config,
                    machine,
                    serving,
                    fault_signals=args.fault_signals,
                    exit_with_parent=args.exit_with_parent,
                )
            )
    except ConsensusError as exc:
        if serving.started:  # it ran, then failed (storage, say): not a usage error
            print(f"pyconsensus node: stopped: {one_line(exc)}", file=sys.stderr)
            return 1
        return _refuse(f"pyconsensus node: {one_line(exc)}")
    return 0


def _node_config(args: argparse.Namespace) -> Any:
    """The node's configuration from the cluster file and ``--join``/``--listen``."""
    import attrs  # noqa: PLC0415

    from pyconsensus.adapters.trio import load_config  # noqa: PLC0415
    from pyconsensus.adapters.trio.config import Address  # noqa: PLC0415

    if args.stay_learner and not args.join:
        raise ConfigError("--stay-learner goes with --join")
    listen = Address.parse(args.listen) if args.listen is not None else None
    config = load_config(args.config, args.id, join=args.join, listen=listen)
    return attrs.evolve(config, auto_promote=not args.stay_learner) if args.join else config


def one_line(error: BaseException) -> str:
    """``error``'s message with any line breaks folded."""
    return " ".join(str(error).split())


def _refuse(message: str) -> int:
    print(message, file=sys.stderr)
    return 2
