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
from collections import defaultdict
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


def fsm_field(model: type[models.Model], field_name: str | None = None) -> FSMFieldMixin:
    """The model's lifecycle field (the named one, or the only one)."""
    fields = [f for f in model._meta.concrete_fields if isinstance(f, FSMFieldMixin)]
    if field_name is not None:
        fields = [f for f in fields if f.name == field_name]
    if len(fields) != 1:
        raise LookupError(f"{model.__name__}: name the FSM field (found {len(fields)})")
    return fields[0]


def build_graph(model: type[models.Model], field_name: str | None = None) -> FsmGraph:
    """The state graph of ``model``'s FSM field, from its declared transitions."""
    fsm = fsm_field(model, field_name)
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


#: A state entered from at least this many states by the same kind of move (``hold``,
#: ``cancel``) is a *side exit*: drawn in a row of its own, its incoming arrows collapsed
#: into one labelled arrow, so that the main path stays readable.
SIDE_FAN_IN = 3


def _side_states(graph: FsmGraph) -> set[str]:
    sources: dict[str, set[str]] = defaultdict(set)
    for edge in graph.edges:
        if edge.source != edge.target and not edge.computed:
            sources[edge.target].add(edge.source)
    side = {s for s, src in sources.items() if len(src) >= SIDE_FAN_IN and s != graph.initial}
    # A lifecycle where most states are reachable from most others (lot statuses) has no
    # main path to protect: collapsing would hide everything.
    return side if len(side) * 3 <= len(graph.states) else set()


def _layers(graph: FsmGraph, side: set[str]) -> dict[str, int]:
    """Column of each main-path state: its *longest* distance from the initial state over
    the transitions left after breaking cycles (DFS back edges), so the happy path reads
    left to right as a line. Unreachable states get a column after the last."""
    succ: dict[str, list[str]] = defaultdict(list)
    order = list(graph.states)
    for edge in graph.edges:
        main = edge.source not in side and edge.target not in side
        if (
            main
            and edge.target != edge.source
            and not edge.computed
            and edge.target not in succ[edge.source]
        ):
            succ[edge.source].append(edge.target)
    for targets in succ.values():
        targets.sort(key=order.index)
    forward: dict[str, list[str]] = defaultdict(list)
    on_stack: set[str] = set()
    seen: set[str] = set()

    def visit(state: str) -> None:
        seen.add(state)
        on_stack.add(state)
        for nxt in succ[state]:
            if nxt in on_stack:
                continue  # a back edge: drawn, but not used for layering
            forward[state].append(nxt)
            if nxt not in seen:
                visit(nxt)
        on_stack.discard(state)

    layer: dict[str, int] = {}
    if graph.initial in graph.states:
        visit(graph.initial)
        layer[graph.initial] = 0
        # Longest path in the DAG: relax in topological order (reverse DFS finish order).
        topo: list[str] = []
        done: set[str] = set()

        def finish(state: str) -> None:
            done.add(state)
            for nxt in forward[state]:
                if nxt not in done:
                    finish(nxt)
            topo.append(state)

        finish(graph.initial)
        for state in reversed(topo):
            for nxt in forward[state]:
                if state in layer:
                    layer[nxt] = max(layer.get(nxt, 0), layer[state] + 1)
    last = max(layer.values(), default=-1) + 1
    for state in graph.states:
        if state not in side:
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
    fsm = fsm_field(model, field_name)
    if instance is not None:
        current = str(getattr(instance, fsm.name))
        if available is None:
            available = {
                t.name for t in getattr(instance, f"get_available_{fsm.name}_transitions")()
            }
    available = available or set()
    title = title or f"{model._meta.verbose_name.capitalize()} lifecycle"

    side = _side_states(graph)
    layer = _layers(graph, side)
    columns: dict[int, list[str]] = defaultdict(list)
    for state in graph.states:  # keeps the choices' order inside a column
        if state not in side:
            columns[layer[state]].append(state)
    node_w = max(90, int(max(len(label) for label in graph.states.values()) * CHAR_W) + 24)
    rows = max(len(col) for col in columns.values())
    top = MARGIN + 30 + 70  # title, then room for arcs of backward transitions above
    pos: dict[str, tuple[float, float]] = {}
    for col, states in columns.items():
        # Centre short columns vertically so the main path reads as a line.
        offset = (rows - len(states)) * (NODE_H + ROW_GAP) / 2
        for row, state in enumerate(states):
            pos[state] = (
                MARGIN + col * (node_w + COL_GAP),
                top + offset + row * (NODE_H + ROW_GAP),
            )
    n_cols = max(columns) + 1
    main_bottom = top + rows * (NODE_H + ROW_GAP)
    side_y = main_bottom + 110
    if side:
        # Side exits sit below the main path, spread evenly under it.
        side_order = [s for s in graph.states if s in side]
        span = n_cols * node_w + (n_cols - 1) * COL_GAP
        step = span / len(side_order)
        for i, state in enumerate(side_order):
            pos[state] = (MARGIN + step * i + (step - node_w) / 2, side_y)
    width = MARGIN * 2 + max(
        n_cols * node_w + (n_cols - 1) * COL_GAP, max(x for x, _ in pos.values()) + node_w - MARGIN
    )
    height = (side_y + NODE_H + 40) if side else main_bottom + 60

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

    def draw(edge_source, edge_target, names_text, path, lx, ly, *, live, computed, tooltip=""):
        color, marker = ("#1d4ed8", "live") if live else ("#666", "arrow")
        dash = ' stroke-dasharray="5,3"' if computed else ""
        out.append(
            f'<path class="fsm-edge{" live" if live else ""}" data-source="{escape(edge_source)}" '
            f'data-target="{escape(edge_target)}" data-transitions="{escape(names_text)}" d="{path}" '
            f'fill="none" stroke="{color}" stroke-width="{2.2 if live else 1.2}"{dash} '
            f'marker-end="url(#{uid}-{marker})">'
            + (f"<title>{escape(tooltip)}</title>" if tooltip else "")
            + "</path>"
        )
        label_w = len(names_text) * LABEL_CHAR_W + 6
        labels.append(
            f'<g class="fsm-label"><rect x="{lx - label_w / 2:.1f}" y="{ly - 11:.1f}" '
            f'width="{label_w:.1f}" height="14" rx="3" fill="#fff" fill-opacity="0.85"/>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle" font-size="10" '
            f'fill="{color}">{escape(names_text)}</text></g>'
        )

    def is_live(edge: Edge) -> bool:
        return edge.source == current and any(name in available for name in edge.names)

    # Collapse the many arrows into each side exit (and a side exit's computed fan-out,
    # like "resume → where it was held") into one labelled arrow each.
    fan_in: dict[str, list[Edge]] = defaultdict(list)
    fan_out: dict[str, list[Edge]] = defaultdict(list)
    single: list[Edge] = []
    for edge in graph.edges:
        if edge.target in side and edge.source not in side and edge.source != edge.target:
            fan_in[edge.target].append(edge)
        elif edge.source in side and edge.computed and edge.target not in side:
            fan_out[edge.source].append(edge)
        else:
            single.append(edge)
    for state, edges in fan_in.items():
        x, y = pos[state]
        names = sorted({n for e in edges for n in e.names})
        sources = [graph.states[e.source] for e in edges]
        cx = x + node_w / 2 - 14
        text = f"{', '.join(names)} ← {len(sources)} states"
        draw(
            "*",
            state,
            text,
            f"M{cx:.1f},{y - 52:.1f} L{cx:.1f},{y:.1f}",
            cx - 4,
            y - 56,
            live=any(is_live(e) for e in edges),
            computed=False,
            tooltip=f"{', '.join(names)} from: {', '.join(sources)}",
        )
    for state, edges in fan_out.items():
        x, y = pos[state]
        names = sorted({n for e in edges for n in e.names})
        cx = x + node_w / 2 + 14
        text = f"{', '.join(names)} → back ({len(edges)} possible)"
        draw(
            state,
            "*",
            text,
            f"M{cx:.1f},{y:.1f} L{cx:.1f},{y - 46:.1f}",
            cx + 4,
            y + NODE_H + 16,
            live=any(is_live(e) for e in edges),
            computed=True,
            tooltip=f"{', '.join(names)} to one of: {', '.join(graph.states[e.target] for e in edges)}",
        )

    backward = skipping = 0
    for edge in single:
        sx, sy = pos[edge.source]
        tx, ty = pos[edge.target]
        names = ", ".join(edge.names)
        in_side = edge.source in side or edge.target in side
        if edge.source == edge.target:
            x0, y0 = sx + node_w * 0.35, sy
            x1 = sx + node_w * 0.65
            path = _curve(x0, y0, x0, y0 - 34, x1, y0 - 34, x1, y0)
            lx, ly = sx + node_w / 2, sy - 30
        elif in_side and sy != ty:
            # Between the main path and the side row: a vertical curve.
            up = ty < sy
            x0, y0 = sx + node_w / 2, (sy if up else sy + NODE_H)
            x1, y1 = tx + node_w / 2, (ty + NODE_H if up else ty)
            mid = (y0 + y1) / 2
            path = _curve(x0, y0, x0, mid, x1, mid, x1, y1)
            lx, ly = (x0 + x1) / 2, mid - 2
        elif in_side or (layer.get(edge.target, 0) == layer.get(edge.source, 0) and sy == ty):
            left_to_right = tx > sx
            x0 = sx + node_w if left_to_right else sx
            x1 = tx if left_to_right else tx + node_w
            y0, y1 = sy + NODE_H / 2, ty + NODE_H / 2
            bend = (x1 - x0) / 2
            path = _curve(x0, y0, x0 + bend, y0, x1 - bend, y1, x1, y1)
            lx, ly = (x0 + x1) / 2, (y0 + y1) / 2 - 4
        elif layer[edge.target] - layer[edge.source] >= 2:
            # Skips a column: an arc under the nodes instead of a line through them.
            skipping += 1
            x0, y0 = sx + node_w / 2, sy + NODE_H
            x1, y1 = tx + node_w / 2, ty + NODE_H
            depth = main_bottom - max(y0, y1) + 8 + (skipping % 3) * 12
            path = _curve(x0, y0, x0, y0 + depth, x1, y1 + depth, x1, y1)
            lx, ly = (x0 + x1) / 2, max(y0, y1) + depth * 0.75 + 4
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
            # Backward: an arc over the nodes, higher for longer jumps, staggered so that
            # several arcs stay apart.
            backward += 1
            x0, y0 = sx + node_w / 2, sy
            x1, y1 = tx + node_w / 2, ty
            depth = min(y0, y1) - top + 24 + (backward % 3) * 14
            path = _curve(x0, y0, x0, y0 - depth, x1, y1 - depth, x1, y1)
            lx, ly = (x0 + x1) / 2, min(y0, y1) - depth * 0.75
        draw(
            edge.source,
            edge.target,
            names,
            path,
            lx,
            ly,
            live=is_live(edge),
            computed=edge.computed,
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
