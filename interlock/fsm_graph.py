"""State pictures drawn from the transitions themselves, never by hand.

``render_svg(Model)`` reads the django-fsm field's declared transitions
(``field.get_all_transitions(model)``) and lays the states out in columns by their
distance from the initial state (a layered layout, like Graphviz's ``dot`` left to right,
in pure Python: a fresh machine has no Graphviz binary). Arrows carry the transition
names; with ``instance=`` the current state is highlighted and the transitions that may
proceed from it are drawn in a stronger colour. Any app can use it for any FSM field:
orders and lots here, rule versions in ``rules``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from dataclasses import dataclass, field
from html import escape
from typing import Any

from django.db import models
from django_fsm import GET_STATE, RETURN_VALUE, FSMFieldMixin

ANY_STATES = ("*", "+")
_ids = itertools.count(1)


@dataclass
class Edge:
    source: str
    target: str
    names: list[str] = field(default_factory=list)
    computed: bool = False  # target chosen at run time (e.g. "resume" → where it was held)


@dataclass
class FsmGraph:
    """States (value → label) in display order, the initial state and the edges."""

    states: dict[str, str]
    initial: str
    edges: list[Edge]

    def transition_names(self) -> set[str]:
        return {name for edge in self.edges for name in edge.names}


def _fsm_field(model: type[models.Model], field_name: str | None) -> FSMFieldMixin:
    fields = [f for f in model._meta.concrete_fields if isinstance(f, FSMFieldMixin)]
    if field_name is not None:
        fields = [f for f in fields if f.name == field_name]
    if len(fields) != 1:
        raise LookupError(f"{model.__name__}: name the FSM field (found {len(fields)})")
    return fields[0]


def build_graph(model: type[models.Model], field_name: str | None = None) -> FsmGraph:
    """The state graph of ``model``'s FSM field, from its declared transitions."""
    fsm = _fsm_field(model, field_name)
    states: dict[str, str] = {str(v): str(label) for v, label in (fsm.choices or [])}
    default = fsm.get_default()
    initial = str(default) if default not in (None, "") else next(iter(states), "")
    pairs: dict[tuple[str, str], Edge] = {}

    def add(source: str, target: str, name: str, computed: bool = False) -> None:
        states.setdefault(source, source)
        states.setdefault(target, target)
        edge = pairs.setdefault((source, target), Edge(source, target, computed=computed))
        if name not in edge.names:
            edge.names.append(name)

    transitions = list(fsm.get_all_transitions(model))
    for t in transitions:
        for state in (t.source, *_targets(t.target)):
            if state not in ANY_STATES and state is not None:
                states.setdefault(str(state), str(state))
    for t in transitions:
        sources = list(states) if t.source in ANY_STATES else [str(t.source)]
        targets = _targets(t.target)
        for source in sources:
            for target in targets or [source]:  # target None: stays, draw a loop
                if t.source == "+" and str(target) == source:
                    continue
                add(
                    source,
                    str(target),
                    t.name,
                    computed=isinstance(t.target, (GET_STATE, RETURN_VALUE)),
                )
    return FsmGraph(states=states, initial=initial, edges=list(pairs.values()))


def _targets(target: Any) -> list[Any]:
    if isinstance(target, (GET_STATE, RETURN_VALUE)):
        return list(target.allowed_states)
    return [] if target is None else [target]


# --- layout ---------------------------------------------------------------------------
NODE_H = 34
ROW_GAP = 26
COL_GAP = 120
MARGIN = 24
CHAR_W = 7.2  # average width of a 12px sans-serif character
LABEL_CHAR_W = 6.0


def _layers(graph: FsmGraph) -> dict[str, int]:
    """Column of each state: its shortest distance from the initial state; states not
    reachable from it get a column after the last."""
    succ: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        if edge.target != edge.source:
            succ[edge.source].append(edge.target)
    layer = {graph.initial: 0} if graph.initial in graph.states else {}
    queue = deque(layer)
    while queue:
        state = queue.popleft()
        for nxt in succ[state]:
            if nxt not in layer:
                layer[nxt] = layer[state] + 1
                queue.append(nxt)
    last = max(layer.values(), default=-1) + 1
    for state in graph.states:
        layer.setdefault(state, last)
    return layer


def _curve(*points: float) -> str:
    """An SVG cubic Bézier path through start, two control points and end."""
    x0, y0, c1x, c1y, c2x, c2y, x1, y1 = points
    return f"M{x0:.1f},{y0:.1f} C{c1x:.1f},{c1y:.1f} {c2x:.1f},{c2y:.1f} {x1:.1f},{y1:.1f}"


def render_svg(
    model: type[models.Model],
    *,
    field_name: str | None = None,
    instance: models.Model | None = None,
    current: str | None = None,
    available: set[str] | None = None,
    title: str | None = None,
) -> str:
    """An SVG picture of the lifecycle. ``instance`` (or ``current``) highlights a state;
    ``available`` names the transitions to emphasise (default with an instance: those
    whose source and guard allow them now)."""
    graph = build_graph(model, field_name)
    fsm = _fsm_field(model, field_name)
    if instance is not None:
        current = str(getattr(instance, fsm.name))
        if available is None:
            available = {
                t.name for t in getattr(instance, f"get_available_{fsm.name}_transitions")()
            }
    available = available or set()
    title = title or f"{model._meta.verbose_name.capitalize()} lifecycle"

    layer = _layers(graph)
    columns: dict[int, list[str]] = defaultdict(list)
    for state in graph.states:  # keeps the choices' order inside a column
        columns[layer[state]].append(state)
    node_w = max(90, int(max(len(label) for label in graph.states.values()) * CHAR_W) + 24)
    rows = max(len(col) for col in columns.values())
    pos: dict[str, tuple[float, float]] = {}
    for col, states in columns.items():
        # Centre short columns vertically so the main path reads as a line.
        offset = (rows - len(states)) * (NODE_H + ROW_GAP) / 2
        for row, state in enumerate(states):
            x = MARGIN + col * (node_w + COL_GAP)
            y = MARGIN + 30 + offset + row * (NODE_H + ROW_GAP)
            pos[state] = (x, y)
    width = MARGIN * 2 + (max(columns) + 1) * node_w + max(columns) * COL_GAP
    body_bottom = MARGIN + 30 + rows * (NODE_H + ROW_GAP)
    height = body_bottom + 90  # room for arcs of backward transitions below the nodes

    uid = f"fsm{next(_ids)}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fsm-graph" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        "<defs>",
        *(
            f'<marker id="{uid}-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{color}"/></marker>'
            for kind, color in (("arrow", "#666"), ("live", "#1d4ed8"))
        ),
        "</defs>",
        f'<text x="{MARGIN}" y="{MARGIN + 4}" font-size="14" font-weight="600">'
        f"{escape(title)}</text>",
    ]
    labels: list[str] = []
    backward = 0
    for edge in graph.edges:
        live = edge.source == current and any(name in available for name in edge.names)
        color, marker = ("#1d4ed8", "live") if live else ("#666", "arrow")
        stroke = 2.2 if live else 1.2
        dash = ' stroke-dasharray="5,3"' if edge.computed else ""
        sx, sy = pos[edge.source]
        tx, ty = pos[edge.target]
        if edge.source == edge.target:
            x0, y0 = sx + node_w * 0.35, sy
            x1 = sx + node_w * 0.65
            path = _curve(x0, y0, x0, y0 - 34, x1, y0 - 34, x1, y0)
            lx, ly = sx + node_w / 2, sy - 30
        elif layer[edge.target] > layer[edge.source]:
            x0, y0 = sx + node_w, sy + NODE_H / 2
            x1, y1 = tx, ty + NODE_H / 2
            bend = COL_GAP * 0.5
            path = _curve(x0, y0, x0 + bend, y0, x1 - bend, y1, x1, y1)
            lx, ly = (x0 + x1) / 2, (y0 + y1) / 2 - 4
        elif layer[edge.target] == layer[edge.source]:
            x0, y0 = sx + node_w, sy + NODE_H / 2
            x1, y1 = tx + node_w, ty + NODE_H / 2
            out_x = x0 + 40
            path = (
                f"M{x0:.1f},{y0:.1f} C{out_x:.1f},{y0:.1f} {out_x:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
            )
            lx, ly = out_x - 6, (y0 + y1) / 2
        else:
            # Backward: an arc under the nodes, deeper for longer jumps, staggered so that
            # several arcs stay apart.
            backward += 1
            x0, y0 = sx + node_w / 2, sy + NODE_H
            x1, y1 = tx + node_w / 2, ty + NODE_H
            depth = body_bottom - min(y0, y1) + 14 + (backward % 4) * 14
            path = _curve(x0, y0, x0, y0 + depth, x1, y1 + depth, x1, y1)
            lx, ly = (x0 + x1) / 2, (y0 + y1) / 2 + depth * 0.75
        names = ", ".join(edge.names)
        out.append(
            f'<path class="fsm-edge{" live" if live else ""}" data-source="{escape(edge.source)}" '
            f'data-target="{escape(edge.target)}" data-transitions="{escape(names)}" d="{path}" '
            f'fill="none" stroke="{color}" stroke-width="{stroke}"{dash} '
            f'marker-end="url(#{uid}-{marker})"/>'
        )
        label_w = len(names) * LABEL_CHAR_W + 6
        labels.append(
            f'<g class="fsm-label"><rect x="{lx - label_w / 2:.1f}" y="{ly - 11:.1f}" '
            f'width="{label_w:.1f}" height="14" rx="3" fill="#fff" fill-opacity="0.85"/>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle" font-size="10" '
            f'fill="{color}">{escape(names)}</text></g>'
        )
    if graph.initial in pos:  # the usual start marker: a dot pointing at the initial state
        x, y = pos[graph.initial]
        out.append(f'<circle cx="{x - 12:.1f}" cy="{y + NODE_H / 2:.1f}" r="5" fill="#475569"/>')
    for state, label in graph.states.items():
        x, y = pos[state]
        is_current = state == current
        classes = (
            "fsm-state"
            + (" current" if is_current else "")
            + (" initial" if state == graph.initial else "")
        )
        fill, stroke, weight = (
            ("#fde68a", "#b45309", "700") if is_current else ("#f8fafc", "#475569", "400")
        )
        out.append(
            f'<g class="{classes}" data-state="{escape(state)}">'
            f"<title>{escape(state)}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{node_w}" height="{NODE_H}" rx="10" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{2.5 if is_current else 1.2}"/>'
            f'<text x="{x + node_w / 2:.1f}" y="{y + NODE_H / 2 + 4:.1f}" text-anchor="middle" '
            f'font-weight="{weight}">{escape(label)}</text></g>'
        )
    out.extend(labels)  # last, so labels sit on top of arrows and boxes
    out.append("</svg>")
    return "\n".join(out)
