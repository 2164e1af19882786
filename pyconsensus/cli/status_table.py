"""The table of ``pyconsensus status``: rows, lag, and how they are printed."""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs


@attrs.frozen(slots=True)
class NodeRow:
    """One member's line of the table; ``error`` is set when it did not answer."""

    node_id: int
    address: str
    role: str = ""
    term: str = ""
    leader: int | None = None
    commit: int | None = None
    applied: int | None = None
    lag: int | None = None
    contact: float | None = None
    """Seconds since this command last heard from the node (None: never)."""
    error: str = ""


@attrs.frozen(slots=True)
class Watch:
    """How ``pyconsensus status`` polls: per-node ``timeout``, seconds between
    tables, how many tables (0: until Ctrl-C), JSON or a table."""

    timeout: float
    interval: float
    count: int
    as_json: bool


COLUMNS = ("node", "address", "role", "term", "leader", "commit", "applied", "lag", "contact")


def with_lag(rows: Sequence[NodeRow]) -> list[NodeRow]:
    """``rows`` with ``lag`` filled in against the highest reported commit index."""
    commits = [row.commit for row in rows if row.commit is not None]
    top = max(commits, default=0)
    return [
        attrs.evolve(row, lag=top - row.applied) if row.applied is not None else row for row in rows
    ]


def term_text(protocol: str, term: int) -> str:
    """The term as people read it: Paxos ballots are ``round.node``."""
    if protocol == "paxos":
        from pyconsensus.paxos.ballot import Ballot  # noqa: PLC0415 (only for Paxos clusters)

        ballot = Ballot.unpack(term)
        return f"{ballot.round}.{ballot.node_id}"
    return str(term)


def render(rows: Sequence[NodeRow]) -> str:
    """The table, one line per member, columns aligned."""
    lines = [list(COLUMNS)]
    for row in rows:
        contact = "never" if row.contact is None else f"{row.contact:.1f}s ago"
        if row.error:
            lines.append([str(row.node_id), row.address, "unreachable", "", "", "", "", ""])
            lines[-1].append(contact)
            continue
        lines.append(
            [
                str(row.node_id),
                row.address,
                row.role,
                row.term,
                "-" if row.leader is None else str(row.leader),
                _text(row.commit),
                _text(row.applied),
                _text(row.lag),
                contact,
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def to_json(cluster_id: str, rows: Sequence[NodeRow]) -> str:
    """The table as one JSON document (one line)."""
    leaders = {row.node_id for row in rows if not row.error and row.role == "leader"}
    return json.dumps(
        {
            "cluster_id": cluster_id,
            "leader": next(iter(leaders)) if len(leaders) == 1 else None,
            "nodes": [attrs.asdict(row) for row in rows],
        }
    )


def _text(value: int | None) -> str:
    return "" if value is None else str(value)
