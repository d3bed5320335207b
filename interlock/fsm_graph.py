"""State pictures drawn from the transitions themselves, laid out by Graphviz.

``render_svg(Model)`` reads the django-fsm field's declared transitions
(``field.get_all_transitions(model)``) and hands the graph to Graphviz's ``dot`` (through
the ``graphviz`` Python binding; Debian's ``graphviz`` package, installed by ``make
sysdeps`` and CI, provides the binary). Layout is Graphviz's job, not ours: it places
edge labels as nodes of their own, so labels never overlap, and keeps crossings low.

What we decide is what to draw:

- states by their labels and transitions by human names (``pass inspection``, not
  ``pass_inspection``); the code names stay in ``data-transitions`` for tools and tests;
- side exits (a state entered from three or more states, like *on hold* or *cancelled*)
  get one arrow "from N states" instead of N arrows, and a computed return (``resume``:
  back where it was held) one dashed arrow, so the main path stays a readable line;
- the current state (``instance=`` or ``current=``) is filled, and the transitions that
  may proceed from it are drawn bold and blue;
- the SVG scales down to its container (``max-width: 100%``), so it fits a laptop screen.

Any app can use it for any FSM field: orders and lots here, rule versions in ``rules``.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import Any

from django.db import models
from django_fsm import GET_STATE, RETURN_VALUE, FSMFieldMixin

ANY_STATES = ("*", "+")
SVG_NS = "http://www.w3.org/2000/svg"


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


# --- what to draw ------------------------------------------------------------------------
#: A state entered from at least this many states by the same kind of move (``hold``,
#: ``cancel``) is a *side exit*: its incoming arrows are collapsed into one.
SIDE_FAN_IN = 3
FONT = "Helvetica,Arial,sans-serif"
LIVE = "#1d4ed8"
MUTED = "#555555"


def human(name: str) -> str:
    """``pass_inspection`` → ``pass inspection``."""
    return name.replace("_", " ")


def _side_states(graph: FsmGraph) -> set[str]:
    sources: dict[str, set[str]] = defaultdict(set)
    for edge in graph.edges:
        if edge.source != edge.target and not edge.computed:
            sources[edge.target].add(edge.source)
    side = {s for s, src in sources.items() if len(src) >= SIDE_FAN_IN and s != graph.initial}
    # A lifecycle where most states are reachable from most others (lot statuses) has no
    # main path to protect: collapsing would hide everything.
    return side if len(side) * 3 <= len(graph.states) else set()


def _dot_id(state: str) -> str:
    return "s_" + re.sub(r"[^A-Za-z0-9_]", "_", state)


def _dot_source(
    graph: FsmGraph, *, current: str | None, available: set[str], title: str
) -> tuple[str, dict[str, tuple[str, str, list[str]]]]:
    """The graph in DOT, and for each edge id what it stands for (source, target, names)."""
    import graphviz

    side = _side_states(graph)
    dot = graphviz.Digraph(
        graph_attr={
            "rankdir": "LR" if len(graph.states) <= 6 else "TB",
            "label": title,
            "labelloc": "t",
            "labeljust": "l",
            "fontname": FONT,
            "fontsize": "14",
            "nodesep": "0.35",
            "ranksep": "0.45",
            "bgcolor": "transparent",
            "pad": "0.1",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": "#f8fafc",
            "color": "#64748b",
            "fontname": FONT,
            "fontsize": "11",
            "height": "0.3",
            "margin": "0.12,0.04",
        },
        edge_attr={
            "fontname": FONT,
            "fontsize": "9",
            "color": MUTED,
            "fontcolor": MUTED,
            "arrowsize": "0.6",
        },
    )
    for state, label in graph.states.items():
        attrs = {"id": _dot_id(state), "class": "fsm-state"}
        if state == current:
            attrs.update(fillcolor="#dbeafe", color=LIVE, penwidth="2", fontcolor="#0b2a6b")
            attrs["class"] += " current"
        if state == graph.initial:
            attrs["peripheries"] = "2"
        dot.node(_dot_id(state), label, **attrs)

    meaning: dict[str, tuple[str, str, list[str]]] = {}

    def edge(source_id: str, target_id: str, src: str, tgt: str, names, label, **attrs):
        edge_id = f"e{len(meaning)}"
        live = src == current and any(n in available for n in names)
        style = {"color": LIVE, "fontcolor": LIVE, "penwidth": "2"} if live else {}
        dot.edge(
            source_id,
            target_id,
            label=label,
            id=edge_id,
            tooltip=", ".join(names),
            **{"class": "fsm-edge" + (" live" if live else "")},
            **style,
            **attrs,
        )
        meaning[edge_id] = (src, tgt, list(names))

    fan_in: dict[str, list[Edge]] = defaultdict(list)
    fan_out: dict[str, list[Edge]] = defaultdict(list)
    for e in graph.edges:
        if e.target in side and e.source not in side and e.source != e.target:
            fan_in[e.target].append(e)
        elif e.source in side and e.computed and e.target not in side:
            fan_out[e.source].append(e)
        else:
            edge(
                _dot_id(e.source),
                _dot_id(e.target),
                e.source,
                e.target,
                e.names,
                " / ".join(human(n) for n in e.names),
                **({"style": "dashed"} if e.computed else {}),
            )
    for state, edges in fan_in.items():
        names = sorted({n for e in edges for n in e.names})
        anchor = f"from_{_dot_id(state)}"
        dot.node(
            anchor,
            f"from {len(edges)} states",
            shape="plaintext",
            style="",
            fontsize="9",
            fontcolor=MUTED,
            tooltip=", ".join(sorted(graph.states[e.source] for e in edges)),
        )
        edge(anchor, _dot_id(state), "*", state, names, " / ".join(map(human, names)))
        # A live side exit (hold the current order) is emphasised like any other edge.
        if current in {e.source for e in edges} and any(n in available for n in names):
            meaning[f"e{len(meaning) - 1}"] = (current, state, names)
    for state, edges in fan_out.items():
        names = sorted({n for e in edges for n in e.names})
        anchor = f"back_{_dot_id(state)}"
        dot.node(
            anchor,
            "back where it was",
            shape="plaintext",
            style="",
            fontsize="9",
            fontcolor=MUTED,
            tooltip=", ".join(sorted(graph.states[e.target] for e in edges)),
        )
        edge(
            _dot_id(state),
            anchor,
            state,
            "*",
            names,
            " / ".join(map(human, names)),
            style="dashed",
        )
    return dot.source, meaning


def _annotate(svg: str, graph: FsmGraph, meaning: dict) -> str:
    """Graphviz's SVG, with our data attributes (``data-state`` on each state's group,
    ``data-transitions`` on each arrow), no fixed size, and no XML prolog."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    root = ET.fromstring(svg)  # noqa: S314 - Graphviz's output for our own graph
    by_id = {_dot_id(s): s for s in graph.states}
    for g in root.iter(f"{{{SVG_NS}}}g"):
        gid = g.get("id", "")
        if gid in by_id:
            g.set("data-state", by_id[gid])
        elif gid in meaning:
            source, target, names = meaning[gid]
            for p in g.iter(f"{{{SVG_NS}}}path"):
                p.set("data-source", source)
                p.set("data-target", target)
                p.set("data-transitions", ", ".join(names))
    width, height = root.get("width", ""), root.get("height", "")
    root.set("class", "fsm-graph")
    root.set("role", "img")
    root.set("data-width", width)
    root.set("data-height", height)
    # Natural size as the maximum, scaled down to fit the page.
    root.set("style", f"max-width:min(100%, {width});height:auto")
    root.attrib.pop("width", None)
    root.attrib.pop("height", None)
    return ET.tostring(root, encoding="unicode")


@functools.lru_cache(maxsize=512)
def _render_cached(
    model: type[models.Model],
    field_name: str | None,
    current: str | None,
    available: frozenset[str],
    title: str,
) -> str:
    import graphviz

    graph = build_graph(model, field_name)
    source, meaning = _dot_source(graph, current=current, available=set(available), title=title)
    try:
        svg = graphviz.Source(source).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        return _without_graphviz(graph, title)
    return _annotate(svg, graph, meaning)


def _without_graphviz(graph: FsmGraph, title: str) -> str:
    """Say plainly what is missing rather than draw a bad picture."""
    rows = "".join(
        f'<g data-state="{escape(s)}"><text x="8" y="{40 + 16 * i}">{escape(label)}</text></g>'
        for i, (s, label) in enumerate(graph.states.items())
    )
    return (
        f'<svg xmlns="{SVG_NS}" class="fsm-graph" role="img" width="420" '
        f'height="{60 + 16 * len(graph.states)}" font-family="sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>"
        '<text x="8" y="18" fill="#b91c1c">Graphviz (dot) is not installed: run make sysdeps.'
        f"</text>{rows}</svg>"
    )


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
    whose source and guard allow them now). Text is escaped by Graphviz and ElementTree,
    so the result may be marked safe."""
    fsm = fsm_field(model, field_name)
    if instance is not None:
        current = str(getattr(instance, fsm.name))
        if available is None:
            available = {
                t.name for t in getattr(instance, f"get_available_{fsm.name}_transitions")()
            }
    title = title or f"{model._meta.verbose_name.capitalize()} lifecycle"
    return _render_cached(model, field_name, current, frozenset(available or ()), title)
