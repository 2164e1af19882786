"""Flow control of one follower: the transitions ``Progress`` owns."""

from __future__ import annotations

from pyconsensus.raft.progress import Progress, ProgressState


def streaming(match: int, next_index: int) -> Progress:
    progress = Progress(next_index)
    progress.acknowledge(match)
    progress.become_replicate()
    progress.next = next_index
    return progress


def test_an_accepted_probe_turns_into_a_stream() -> None:
    progress = Progress(5)
    progress.sent_append(7)
    assert progress.paused and not progress.can_send(4)
    assert progress.maybe_update(7)
    assert progress.state is ProgressState.REPLICATE
    assert (progress.match, progress.next, progress.paused) == (7, 8, False)


def test_an_old_answer_is_no_news_but_unpauses_a_probe() -> None:
    progress = Progress(5)
    progress.acknowledge(4)
    progress.paused = True
    assert not progress.maybe_update(3)
    assert progress.state is ProgressState.PROBE and not progress.paused


def test_a_snapshot_acknowledged_at_its_index_turns_into_a_stream() -> None:
    progress = Progress(5)
    progress.become_snapshot(20)
    assert progress.maybe_update(12)
    assert progress.state is ProgressState.SNAPSHOT  # not yet at the snapshot
    assert progress.maybe_update(20)
    assert progress.state.name == "REPLICATE"


def test_a_stream_sends_ahead_up_to_the_in_flight_limit() -> None:
    progress = streaming(match=4, next_index=5)
    progress.sent_append(8)
    progress.sent_append(10)
    assert (progress.next, list(progress.inflight)) == (11, [8, 10])
    assert not progress.can_send(2)
    assert progress.maybe_update(8)
    assert list(progress.inflight) == [10] and progress.can_send(2)


def test_a_rejection_drops_a_stream_back_to_probing_below_it() -> None:
    progress = streaming(match=4, next_index=11)
    assert progress.maybe_decr_to(rejected=9, hint=7)
    assert progress.state is ProgressState.PROBE
    assert (progress.next, progress.paused) == (7, False)


def test_a_rejection_never_probes_below_the_match() -> None:
    progress = streaming(match=4, next_index=11)
    assert progress.maybe_decr_to(rejected=9, hint=1)
    assert progress.next == 5


def test_stale_rejections_change_nothing() -> None:
    stream = streaming(match=6, next_index=11)
    assert not stream.maybe_decr_to(rejected=5, hint=2)  # below the match
    assert stream.state is ProgressState.REPLICATE and stream.next == 11
    probe = Progress(9)
    assert not probe.maybe_decr_to(rejected=4, hint=2)  # answers an earlier probe
    assert probe.next == 9
    snapshot = Progress(9)
    snapshot.become_snapshot(30)
    assert not snapshot.maybe_decr_to(rejected=8, hint=2)


def test_a_stream_whose_appends_go_unanswered_falls_back_to_probing() -> None:
    progress = streaming(match=4, next_index=5)
    progress.sent_append(9)
    assert not progress.heartbeat_answered(stall_limit=2, snapshot_retry=5)
    assert progress.heartbeat_answered(stall_limit=2, snapshot_retry=5)
    assert progress.state is ProgressState.PROBE and progress.next == 5


def test_an_unanswered_snapshot_is_retried_by_probing() -> None:
    progress = Progress(5)
    progress.become_snapshot(20)
    assert not progress.heartbeat_answered(stall_limit=2, snapshot_retry=2)
    assert not progress.heartbeat_answered(stall_limit=2, snapshot_retry=2)
    assert progress.state is ProgressState.PROBE
    assert progress.next == 21  # past the snapshot it sent


def test_an_empty_append_pauses_a_probe_only_while_the_match_is_unknown() -> None:
    progress = Progress(5)
    assert progress.match_unknown()
    progress.sent_append(4)
    assert progress.paused
    progress.acknowledge(4)
    assert not progress.match_unknown()
    progress.sent_append(4)
    assert not progress.paused
