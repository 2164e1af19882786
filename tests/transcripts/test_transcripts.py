"""Transcript tests: each ``*.txt`` file here is run step by step and every
output batch must match the recorded text.

After a reviewed change to a protocol, rewrite the expectations with::

    PYCONSENSUS_REWRITE=1 pytest tests/transcripts

and review the diff (``git diff tests/transcripts``) before committing it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from pyconsensus.sim.transcript import TranscriptError, parse, run_transcript

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("*.txt"))
REWRITE = os.environ.get("PYCONSENSUS_REWRITE") == "1"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path) -> None:
    expected = path.read_text()
    actual = run_transcript(expected)
    if REWRITE and actual != expected:
        path.write_text(actual)
        expected, actual = actual, run_transcript(actual)  # and it must be stable
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            f"{path.name} (expected)",
            f"{path.name} (actual)",
        )
    )
    assert actual == expected, f"transcript differs; if intended, rewrite it:\n{diff}"


def test_the_transcripts_cover_the_tricky_raft_scenarios() -> None:
    names = {p.stem for p in FILES}
    assert {
        "raft_old_term_entries",
        "raft_divergent_follower",
        "raft_prevote_checkquorum",
        "raft_joint_consensus",
        "raft_leadership_transfer",
    } <= names


def test_running_a_transcript_twice_gives_the_same_text() -> None:
    text = (HERE / "raft_election.txt").read_text()
    assert run_transcript(text) == run_transcript(run_transcript(text))


def test_comments_and_commands_are_kept_and_outputs_filled_in() -> None:
    text = "# hello\ncluster nodes=3\n----\n\n# tick\ntick 1\n----\nstale output\n"
    assert (
        run_transcript(text) == "# hello\ncluster nodes=3\n----\nok\n\n# tick\ntick 1\n----\nok\n"
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("tick 1\n----\n", "start with a 'cluster'"),
        ("cluster\n----\n\nwarp 9\n----\n", "unknown command 'warp'"),
        ("cluster\nstatus\n----\n", "expected '----'"),
        ("cluster protocol=raft warp=9\n----\n", "unknown option 'warp'"),
        ("cluster\n----\n\ndeliver colour=red\n----\n", "unknown filter"),
        ("cluster\n----\n\ncrash one\n----\n", "expected a node number"),
    ],
)
def test_a_malformed_transcript_names_its_problem(text: str, complaint: str) -> None:
    with pytest.raises(TranscriptError, match=complaint):
        run_transcript(text)


def test_blocks_are_parsed_with_their_line_numbers() -> None:
    blocks = parse("cluster\n----\nok\n\n# c\nstatus\n----\n1: x\n")
    assert [(b.command, b.line, b.expected) for b in blocks] == [
        ("cluster", 1, ("ok",)),
        ("status", 5, ("1: x",)),
    ]
