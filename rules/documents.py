"""Load a YAML or JSON rule set document and remember where every node was written.

``yaml.safe_load`` forgets positions, and JSON Schema errors only know JSON pointers;
authors need "line 12, column 7". So we compose the YAML node tree once, build the plain
Python data with PyYAML's *safe* constructor, and walk both together to map each JSON
pointer to the line/column of its value (and, for mapping entries, of its key, which is
where an unknown-key error belongs).

The loader resolves booleans the YAML 1.2 way (only ``true``/``false``): under PyYAML's
YAML 1.1 default the rule key ``on`` would silently become the boolean ``True``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import Problem


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (``on``/``yes``/``no`` stay strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def escape_pointer_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(parts: tuple[str | int, ...] | list[str | int]) -> str:
    return "".join("/" + escape_pointer_token(p) for p in parts)


@dataclass
class Document:
    """Parsed data plus positions: ``values[ptr]`` and ``keys[ptr]`` are ``(line, col)``."""

    data: Any
    text: str = ""
    values: dict[str, tuple[int, int]] = field(default_factory=dict)
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Where each scalar's *text* starts (after an opening quote or block indicator), so a
    # CEL position inside an expression can be mapped to a document position.
    scalar_style: dict[str, str | None] = field(default_factory=dict)

    def position(self, ptr: str, *, key: bool = False) -> tuple[int, int]:
        """Best known position of ``ptr``: the node itself, else its nearest ancestor."""
        table = self.keys if key and ptr in self.keys else self.values
        while True:
            if ptr in table:
                return table[ptr]
            if not ptr:
                return (0, 0)
            ptr = ptr.rsplit("/", 1)[0]
            table = self.values

    def expression_position(self, ptr: str, line: int, column: int) -> tuple[int, int]:
        """Document line/column of position ``line:column`` inside the string at ``ptr``."""
        node_line, node_column = self.values.get(ptr, (0, 0))
        if not node_line:
            return (0, 0)
        style = self.scalar_style.get(ptr)
        if style == ">":
            return self._folded_position(node_line, node_column, line, column)
        if style == "|":
            # Block scalar: the text starts on the next line, at the block's indentation.
            # The block's indentation is that of its first content line (YAML spec 8.1.1.1).
            lines = self.text.splitlines()
            index = node_line + line
            if node_line < len(lines):
                first = lines[node_line]
                indent = len(first) - len(first.lstrip(" "))
                return (index, indent + column)
            return (node_line, node_column)
        if line == 1:
            return (node_line, node_column + (1 if style in ("'", '"') else 0) + column - 1)
        return (node_line + line - 1, column)

    def _folded_position(
        self, node_line: int, node_column: int, line: int, column: int
    ) -> tuple[int, int]:
        """Position in a folded block (``>``/``>-``): its lines are joined by one space
        (a blank line makes a newline), so an expression column runs across document
        lines; walk them until the column falls inside one."""
        lines = self.text.splitlines()
        if node_line >= len(lines):
            return (node_line, node_column)
        first = lines[node_line]
        indent = len(first) - len(first.lstrip(" "))
        expr_line, remaining = 1, column
        for index in range(node_line, len(lines)):
            text = lines[index]
            if not text.strip():
                expr_line += 1  # a blank line folds into a newline
                continue
            if len(text) - len(text.lstrip(" ")) < indent:
                break  # the block ended
            content = text[indent:]
            if expr_line == line:
                if remaining <= len(content) + 1:
                    return (index + 1, indent + max(remaining, 1))
                remaining -= len(content) + 1  # the line and the space it folds into
        return (node_line + 1, indent + 1)

    def problem(self, ptr: str, code: str, message: str, *, key: bool = False, **kw) -> Problem:
        line, column = self.position(ptr, key=key)
        return Problem(path=ptr, code=code, message=message, line=line, column=column, **kw)


def _walk(node: yaml.Node, ptr: str, doc: Document, seen: list[Problem]) -> None:
    doc.values[ptr] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.ScalarNode):
        doc.scalar_style[ptr] = node.style
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _walk(child, f"{ptr}/{index}", doc, seen)
    elif isinstance(node, yaml.MappingNode):
        names: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value)
            child = f"{ptr}/{escape_pointer_token(name)}"
            position = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if name in names:
                # PyYAML keeps the last value silently; a rule set must not hide a mistake.
                seen.append(
                    Problem(
                        path=child,
                        code="duplicate_key",
                        message=f"key {name!r} appears twice in the same mapping",
                        line=position[0],
                        column=position[1],
                    )
                )
            names.add(name)
            doc.keys[child] = position
            _walk(value_node, child, doc, seen)


def load_document(text: str) -> tuple[Document | None, list[Problem]]:
    """Parse YAML (or JSON, a subset of it) into a :class:`Document`.

    Returns ``(None, problems)`` on a syntax error, with the line/column PyYAML reports.
    """
    problems: list[Problem] = []
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return None, [Problem("", "yaml_syntax", message, line=line, column=column)]
    except yaml.YAMLError as exc:
        return None, [Problem("", "yaml_syntax", str(exc))]
    doc = Document(data=data, text=text)
    if node is not None:
        _walk(node, "", doc, problems)
    return doc, problems
