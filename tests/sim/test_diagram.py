"""Space-time diagrams: every node has a lane, messages are arrows, a violation is marked."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import attrs

from pyconsensus.sim import RunConfig, SimConfig, Simulation, run_seed
from pyconsensus.sim.checkers.raft import SPEC, make_spec
from pyconsensus.sim.diagram import render_html, render_svg
from pyconsensus.sim.faults import Crash, Restart, Scheduled
from pyconsensus.sim.trace import Trace
from tests.sim.broken import LeaselessReader

SVG = "{http://www.w3.org/2000/svg}"


def small_run() -> Trace:
    schedule = [Scheduled(300, Crash(1)), Scheduled(500, Restart(1))]
    sim = Simulation(SPEC, 2, SimConfig(nodes=3), schedule)
    trace = Trace.attach(sim)
    sim.run_until(700)
    return trace


def test_the_svg_is_well_formed_with_a_lane_per_node() -> None:
    trace = small_run()
    svg = render_svg(trace)
    root = ElementTree.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"node 1", "node 2", "node 3"} <= set(texts)
    arrows = [line for line in root.iter(f"{SVG}line") if line.get("marker-end")]
    assert len(arrows) == sum(1 for m in trace.messages if m.dropped is None and m.arrive_ms)


def test_roles_and_faults_are_drawn() -> None:
    trace = small_run()
    assert {span.role for span in trace.roles} >= {"follower", "leader", "down"}
    svg = render_svg(trace)
    assert "crash 1" in svg and "restart 1" in svg
    assert "leader" in svg


def test_a_window_draws_only_what_happened_in_it() -> None:
    trace = small_run()
    whole = render_svg(trace)
    part = render_svg(trace, start_ms=400, end_ms=450)
    assert len(part) < len(whole)
    assert "crash 1" not in part  # the crash happened before the window


def test_a_linearizability_violation_is_marked_and_its_operation_outlined() -> None:
    config = RunConfig(
        workload="kv", check_linearizability=True, nemesis=("all",), clients=5, keys=2
    )
    result = run_seed(make_spec(node_class=LeaselessReader), 4, config, trace=True)
    assert result.violation is not None and result.trace is not None
    mark = result.trace.violation
    assert mark is not None and mark.operation == result.violation.operation
    html = render_html(result.trace, start_ms=mark.time_ms - 500, end_ms=mark.time_ms + 100)
    assert "violation: Linearizability" in html
    assert 'stroke="#d62728" stroke-width="2.5"' in html  # the outlined operation
    assert "no linearization exists" in html


def test_the_page_is_self_contained() -> None:
    html = render_html(small_run(), notes="<b>not markup</b>")
    assert "<script" not in html
    assert not re.search(r'(src|href)="http', html)
    assert "&lt;b&gt;not markup&lt;/b&gt;" in html


def test_message_details_are_escaped_in_tooltips() -> None:
    trace = small_run()
    assert trace.messages
    record = trace.messages[0]
    trace.messages = [attrs.evolve(record)]
    trace.title = 'a "title" <with> markup & more'
    ElementTree.fromstring(render_svg(trace))  # still well-formed
