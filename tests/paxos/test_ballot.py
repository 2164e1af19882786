"""Ballots: ordered by round, then node id; packed losslessly into an int."""

from __future__ import annotations

import random

import pytest

from pyconsensus.paxos.ballot import MAX_NODE_ID, Ballot


def test_round_is_compared_before_node_id() -> None:
    assert Ballot(1, 9) < Ballot(2, 1)
    assert Ballot(2, 1) < Ballot(2, 3)
    assert Ballot(2, 3) == Ballot(2, 3)
    assert max(Ballot(3, 1), Ballot(2, 7), Ballot(3, 0)) == Ballot(3, 1)


def test_packing_is_lossless_and_preserves_order() -> None:
    rng = random.Random(5)
    ballots = [
        Ballot(rng.randrange(1 << 40), rng.choice((0, 1, 7, MAX_NODE_ID))) for _ in range(300)
    ]
    for ballot in ballots:
        assert Ballot.unpack(ballot.packed) == ballot
    assert sorted(ballots) == sorted(ballots, key=lambda b: b.packed)


def test_zero_ballot_packs_to_zero_and_is_below_every_real_ballot() -> None:
    assert Ballot.ZERO.packed == 0
    assert Ballot(1, 0) > Ballot.ZERO


def test_successor_outranks_every_ballot_of_the_round() -> None:
    successor = Ballot(4, MAX_NODE_ID).successor(1)
    assert successor == Ballot(5, 1)
    assert successor > Ballot(4, MAX_NODE_ID)


@pytest.mark.parametrize(
    ("round_", "node_id"), [(-1, 1), (1, -1), (1, MAX_NODE_ID + 1), (1.5, 1), (1, "2")]
)
def test_nonsensical_ballots_cannot_be_built(round_: object, node_id: object) -> None:
    with pytest.raises(ValueError, match="ballot"):
        Ballot(round_, node_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("packed", [-1, 1.0, "7", None])
def test_nonsensical_packed_ballots_cannot_be_unpacked(packed: object) -> None:
    with pytest.raises(ValueError, match="packed ballot"):
        Ballot.unpack(packed)  # type: ignore[arg-type]
