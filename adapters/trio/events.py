"""Operator events: one log record and one counter per thing that happened.

Every event a node reports (an election, a leader change, a slow fsync, a peer
that connected...) goes through ``emit``: it counts the event in the node's
counters as ``events.<name>`` and logs one readable line through stdlib
``logging`` whose record also carries the event's name and fields
(``record.event``, ``record.fields``). ``JsonFormatter`` turns such records
into one JSON object per line (``pyconsensus node --log-format json``); the
plain formatter shows the readable line. docs/operations.md lists every event
and its fields.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pyconsensus.paxos.ballot import Ballot

EventFields = Mapping[str, Any]

TERM_NAMES = {"raft": "term", "zab": "epoch", "paxos": "ballot"}
"""What each protocol calls its era of leadership (the core's ``Status.term``)."""


def term_name(protocol: str) -> str:
    """``term`` (Raft), ``epoch`` (ZAB) or ``ballot`` (Multi-Paxos)."""
    return TERM_NAMES.get(protocol, "term")


def format_term(protocol: str, term: int) -> str | int:
    """A term as an operator reads it: Paxos ballots as ``round.node`` (the
    core packs them into one integer), other protocols' terms unchanged."""
    if protocol == "paxos":
        ballot = Ballot.unpack(term)
        return f"{ballot.round}.{ballot.node_id}"
    return term


def emit(
    logger: logging.Logger,
    counters: Counter[str] | None,
    event: str,
    message: str,
    *,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """Count ``event`` (``events.<event>``; not if ``counters`` is None) and
    log ``message`` with its fields."""
    if counters is not None:
        counters[f"events.{event}"] += 1
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"event": event, "fields": fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, ISO 8601 with milliseconds),
    ``level``, ``logger``, ``message``, and for events ``event`` plus the
    event's fields at the top level; ``node`` when the formatter is given one."""

    def __init__(self, node_id: int | None = None) -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        document: dict[str, Any] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
        }
        if self.node_id is not None:
            document["node"] = self.node_id
        event = getattr(record, "event", None)
        if event is not None:
            document["event"] = event
            fields = getattr(record, "fields", None) or {}
            document.update({k: v for k, v in fields.items() if k not in document})
        document["message"] = record.getMessage()
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure_logging(level: str, log_format: str, node_id: int | None = None) -> None:
    """Set up the root logger for a command: ``text`` (a timestamped line) or
    ``json`` (``JsonFormatter``), at ``level`` (``debug``, ``info``...)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(node_id))
    else:
        who = "" if node_id is None else f"node {node_id} "
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {who}%(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
