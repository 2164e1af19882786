"""Space-time diagrams of a run, as self-contained SVG or HTML.

One lane per node, coloured by role, with a stripe whose colour changes with
the term; every message is an arrow from sender to receiver (dashed and
crossed out if it was lost); faults are vertical lines with a label; client
operations are bars below the nodes (green ok, grey failed, orange
indeterminate); a violation is a red line, and the operation that broke
linearizability is outlined in red. Hover over anything for details.
"""

from __future__ import annotations

import html

import attrs

from pyconsensus.sim.faults import Fault, Heal, RestartAll
from pyconsensus.sim.history import FAIL, INFO, OK, Operation
from pyconsensus.sim.nemesis import describe
from pyconsensus.sim.trace import DOWN, Trace

ROLE_COLOURS = {
    "follower": "#eef0f3",
    "pre-candidate": "#fde9cc",
    "candidate": "#f7c675",
    "leader": "#a9dc98",
    "observer": "#dfe3f3",
    DOWN: "#5a5a5a",
}
TERM_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")
MESSAGE_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
    "#393b79",
)
OP_COLOURS = {OK: "#6cc070", FAIL: "#c4c4c4", INFO: "#f0a030"}

LEFT = 78
RIGHT = 24
TOP = 92
LANE = 40
LANE_GAP = 16
CLIENT_LANE = 15
CLIENT_GAP = 4


@attrs.frozen(slots=True)
class _Frame:
    start: int
    end: int
    scale: float

    def x(self, t: float) -> float:
        return LEFT + (t - self.start) * self.scale

    @property
    def width(self) -> float:
        return LEFT + (self.end - self.start) * self.scale + RIGHT


def render_svg(
    trace: Trace,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    px_per_ms: float | None = None,
) -> str:
    """The diagram as one standalone ``<svg>`` document."""
    start = max(0, start_ms if start_ms is not None else 0)
    end = end_ms if end_ms is not None else max(trace.end_ms, start + 1)
    end = max(end, start + 1)
    if px_per_ms is None:
        px_per_ms = min(4.0, max(0.2, 1600 / (end - start)))
    frame = _Frame(start, end, px_per_ms)
    nodes = list(trace.members)
    lane_y = {node: TOP + k * (LANE + LANE_GAP) for k, node in enumerate(nodes)}
    clients = sorted({op.client for op in trace.operations})
    clients_top = TOP + len(nodes) * (LANE + LANE_GAP) + 10
    client_y = {c: clients_top + k * (CLIENT_LANE + CLIENT_GAP) for k, c in enumerate(clients)}
    plot_bottom = (client_y[clients[-1]] + CLIENT_LANE) if clients else clients_top - 10
    height = plot_bottom + 58
    width = frame.width
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
        f'viewBox="0 0 {width:.0f} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="11">',
        _defs(frame, plot_bottom),
        f'<rect width="{width:.0f}" height="{height}" fill="#ffffff"/>',
        f'<text x="8" y="16" font-size="13" font-weight="bold">{_e(trace.title)}</text>',
    ]
    out.extend(_axis(frame, plot_bottom))
    out.extend(_lanes(trace, frame, lane_y))
    out.extend(_clients(trace, frame, client_y))
    out.extend(_faults(trace, frame, plot_bottom))
    out.extend(_messages(trace, frame, lane_y))
    out.extend(_violation(trace, frame, plot_bottom))
    out.extend(_legend(plot_bottom + 30))
    out.append("</svg>")
    return "\n".join(out)


def render_html(
    trace: Trace,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    px_per_ms: float | None = None,
    notes: str = "",
) -> str:
    """The diagram in a self-contained HTML page (no scripts, no external files)."""
    svg = render_svg(trace, start_ms=start_ms, end_ms=end_ms, px_per_ms=px_per_ms)
    violation = ""
    if trace.violation is not None:
        violation = (
            f'<p class="violation">{_e(trace.violation.title)} at '
            f"t={trace.violation.time_ms} ms</p><pre>{_e(trace.violation.detail)}</pre>"
        )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{_e(trace.title)}</title><style>"
        "body{font-family:Helvetica,Arial,sans-serif;margin:16px;color:#222}"
        ".violation{color:#c0392b;font-weight:bold}"
        "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}"
        ".scroll{overflow-x:auto;border:1px solid #ddd}"
        "</style></head><body>"
        f"<h2>{_e(trace.title)}</h2>{violation}"
        f"{'<pre>' + _e(notes) + '</pre>' if notes else ''}"
        "<p>Time runs left to right (virtual milliseconds). Hover over arrows, "
        "bars and fault lines for details.</p>"
        f'<div class="scroll">{svg}</div></body></html>\n'
    )


# ----------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _colour_of(name: str) -> int:
    return sum(name.encode()) % len(MESSAGE_COLOURS)


def _defs(frame: _Frame, bottom: float) -> str:
    markers = "".join(
        f'<marker id="a{k}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        f'markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{colour}"/></marker>'
        for k, colour in enumerate(MESSAGE_COLOURS)
    )
    clip = (
        f'<clipPath id="plot"><rect x="{LEFT}" y="0" '
        f'width="{frame.width - LEFT - RIGHT + 1:.0f}" height="{bottom + 4:.0f}"/></clipPath>'
    )
    return f"<defs>{markers}{clip}</defs>"


def _tick_step(frame: _Frame) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000):
        if step * frame.scale >= 60:
            return step
    return 20_000


def _axis(frame: _Frame, bottom: float) -> list[str]:
    step = _tick_step(frame)
    out = []
    t = (frame.start // step + 1) * step if frame.start % step else frame.start
    while t <= frame.end:
        x = frame.x(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP - 10}" x2="{x:.1f}" y2="{bottom}" stroke="#eeeeee"/>'
            f'<text x="{x:.1f}" y="{TOP - 12}" text-anchor="middle" fill="#777">{t} ms</text>'
        )
        t += step
    return out


def _lanes(trace: Trace, frame: _Frame, lane_y: dict[int, int]) -> list[str]:
    out = []
    spans: dict[int, list[tuple[int, str, int]]] = {n: [] for n in lane_y}
    for span in trace.roles:
        if span.node in spans:
            spans[span.node].append((span.start_ms, span.role, span.term))
    for node, y in lane_y.items():
        out.append(
            f'<text x="8" y="{y + LANE / 2 + 4}" font-size="12" font-weight="bold">'
            f"node {node}</text>"
        )
        out.append('<g clip-path="url(#plot)">')
        items = spans[node]
        for k, (start, role, term) in enumerate(items):
            stop = items[k + 1][0] if k + 1 < len(items) else frame.end
            if stop < frame.start or start > frame.end:
                continue
            x1, x2 = frame.x(max(start, frame.start)), frame.x(min(stop, frame.end))
            fill = ROLE_COLOURS.get(role, "#eeeeee")
            stripe = TERM_COLOURS[term % len(TERM_COLOURS)]
            tip = f"node {node}: {role}, term {term}, from {start} ms"
            out.append(
                f'<g><title>{_e(tip)}</title><rect x="{x1:.1f}" y="{y}" '
                f'width="{max(x2 - x1, 0.5):.1f}" height="{LANE}" fill="{fill}"/>'
                f'<rect x="{x1:.1f}" y="{y}" width="{max(x2 - x1, 0.5):.1f}" height="4" '
                f'fill="{stripe if role != DOWN else "#5a5a5a"}"/></g>'
            )
            if x2 - x1 > 26 and role != DOWN:
                out.append(
                    f'<text x="{x1 + 3:.1f}" y="{y + 15}" font-size="9" fill="#555">'
                    f"{_e(_short_role(role))} t{term}</text>"
                )
            elif x2 - x1 > 26:
                out.append(
                    f'<text x="{x1 + 3:.1f}" y="{y + 15}" font-size="9" fill="#fff">down</text>'
                )
        out.append("</g>")
    return out


def _short_role(role: str) -> str:
    return {"follower": "F", "pre-candidate": "PC", "candidate": "C", "leader": "L"}.get(role, role)


def _messages(trace: Trace, frame: _Frame, lane_y: dict[int, int]) -> list[str]:
    out = ['<g clip-path="url(#plot)" stroke-width="1">']
    for record in trace.messages:
        message = record.message
        src, dst = message.src, message.dst
        if src not in lane_y or dst not in lane_y:
            continue
        end = record.arrive_ms
        last = end if end is not None else record.sent_ms + 3
        if last < frame.start or record.sent_ms > frame.end:
            continue
        name = type(message).__name__
        colour_index = _colour_of(name)
        colour = MESSAGE_COLOURS[colour_index]
        y1 = lane_y[src] + LANE / 2
        y2 = lane_y[dst] + LANE / 2
        x1 = frame.x(record.sent_ms)
        tip = _e(_message_text(message, record.sent_ms, end, record.dropped))
        if end is None or record.dropped is not None:
            arrive = end if end is not None else record.sent_ms + 3
            xm = (x1 + frame.x(arrive)) / 2
            ym = (y1 + y2) / 2
            out.append(
                f'<g><title>{tip}</title><line x1="{x1:.1f}" y1="{y1:.1f}" x2="{xm:.1f}" '
                f'y2="{ym:.1f}" stroke="{colour}" stroke-dasharray="3,2" opacity="0.8"/>'
                f'<path d="M{xm - 3:.1f},{ym - 3:.1f} l6,6 m0,-6 l-6,6" stroke="#d62728" '
                'stroke-width="1.5"/></g>'
            )
            continue
        x2 = frame.x(end)
        out.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
            f'marker-end="url(#a{colour_index})" opacity="0.75"><title>{tip}</title></line>'
        )
    out.append("</g>")
    return out


def _message_text(message: object, sent: int, arrive: int | None, dropped: str | None) -> str:
    fields = []
    cls = type(message)
    if attrs.has(cls):
        for field in attrs.fields(cls):
            if field.name in ("src", "dst"):
                continue
            value = getattr(message, field.name)
            if isinstance(value, tuple) and len(value) > 3:
                value = f"({len(value)} items)"
            fields.append(f"{field.name}={value}")
    else:
        fields.append(repr(message))
    src, dst = getattr(message, "src", "?"), getattr(message, "dst", "?")
    when = f"sent {sent} ms" + (f", arrives {arrive} ms" if arrive is not None else "")
    fate = f" - dropped ({dropped})" if dropped else ""
    text = f"{type(message).__name__} {src}->{dst}: {', '.join(fields)}\n{when}{fate}"
    return text if len(text) < 600 else text[:597] + "..."


def _clients(trace: Trace, frame: _Frame, client_y: dict[int, int]) -> list[str]:
    out = []
    bad = trace.violation.operation if trace.violation is not None else None
    for client, y in client_y.items():
        out.append(
            f'<text x="8" y="{y + CLIENT_LANE - 3}" font-size="10" fill="#555">'
            f"client {client}</text>"
        )
    out.append('<g clip-path="url(#plot)">')
    for op in trace.operations:
        if op.client not in client_y:
            continue
        stop = op.complete_ms if op.complete_ms is not None else trace.end_ms
        if stop < frame.start or op.invoke_ms > frame.end:
            continue
        y = client_y[op.client]
        x1 = frame.x(op.invoke_ms)
        x2 = max(frame.x(stop), x1 + 2)
        highlighted = op.id == bad
        stroke = ' stroke="#d62728" stroke-width="2.5"' if highlighted else ""
        fill = "#ff9c9c" if highlighted else OP_COLOURS[op.status]
        out.append(
            f'<g><title>{_e(op.describe())}</title><rect x="{x1:.1f}" y="{y}" '
            f'width="{x2 - x1:.1f}" height="{CLIENT_LANE}" rx="2" fill="{fill}"{stroke}/>'
        )
        if x2 - x1 > 44:
            out.append(
                f'<text x="{x1 + 2:.1f}" y="{y + CLIENT_LANE - 4}" font-size="9">'
                f"{_e(_op_label(op))}</text>"
            )
        out.append("</g>")
    out.append("</g>")
    return out


def _op_label(op: Operation) -> str:
    key = op.key.decode("ascii", "replace") if isinstance(op.key, bytes) else str(op.key)
    return f"{op.f} {key}"


def _faults(trace: Trace, frame: _Frame, bottom: float) -> list[str]:
    groups: dict[int, list[Fault]] = {}
    for at, fault in trace.faults:
        if frame.start <= at <= frame.end:
            groups.setdefault(at, []).append(fault)
    out = []
    row = 0
    last_x = -1000.0
    for at, faults in groups.items():
        x = frame.x(at)
        labels = [describe(f) for f in faults]
        label = _fault_label(faults, labels)
        row = row + 1 if x - last_x < 110 else 0
        last_x = x
        y_text = 32 + (row % 3) * 11
        tip = f"{at} ms: " + "; ".join(labels)
        out.append(
            f"<g><title>{_e(tip)}</title>"
            f'<line x1="{x:.1f}" y1="{y_text + 2}" x2="{x:.1f}" y2="{bottom}" stroke="#7b3294" '
            'stroke-dasharray="5,3" stroke-width="1.2"/>'
            f'<text x="{x + 3:.1f}" y="{y_text}" font-size="9" fill="#7b3294">{_e(label)}</text>'
            "</g>"
        )
    return out


def _fault_label(faults: list[Fault], labels: list[str]) -> str:
    """One label for the faults of one instant; the full heal is named as such."""
    if any(isinstance(f, Heal) for f in faults) and any(isinstance(f, RestartAll) for f in faults):
        return "heal everything"
    label = ", ".join(labels)
    return label if len(label) <= 48 else label[:45] + "..."


def _violation(trace: Trace, frame: _Frame, bottom: float) -> list[str]:
    mark = trace.violation
    if mark is None or not frame.start <= mark.time_ms <= frame.end:
        return []
    x = frame.x(mark.time_ms)
    return [
        f'<g><title>{_e(mark.detail)}</title><line x1="{x:.1f}" y1="{TOP - 26}" x2="{x:.1f}" '
        f'y2="{bottom}" stroke="#d62728" stroke-width="2.5"/>'
        f'<text x="{x - 4:.1f}" y="{TOP - 26}" text-anchor="end" fill="#d62728" '
        f'font-weight="bold">violation: {_e(mark.title)}</text></g>'
    ]


def _legend(y: float) -> list[str]:
    out = []
    x = 8.0
    for role in ("follower", "pre-candidate", "candidate", "leader", DOWN):
        out.append(
            f'<rect x="{x:.0f}" y="{y - 9}" width="14" height="10" fill="{ROLE_COLOURS[role]}" '
            f'stroke="#999"/><text x="{x + 18:.0f}" y="{y}">{role}</text>'
        )
        x += 30 + 6.2 * len(role)
    for status, label in ((OK, "op ok"), (FAIL, "op failed"), (INFO, "op indeterminate")):
        out.append(
            f'<rect x="{x:.0f}" y="{y - 9}" width="14" height="10" fill="{OP_COLOURS[status]}"/>'
            f'<text x="{x + 18:.0f}" y="{y}">{label}</text>'
        )
        x += 30 + 6.2 * len(label)
    out.append(
        f'<text x="8" y="{y + 16}" fill="#666">arrows: messages (dashed + x: lost); '
        "stripe colour: term; purple dashed lines: faults; red: violation</text>"
    )
    return out
