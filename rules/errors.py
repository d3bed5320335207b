"""Errors of the rules app.

A rule set that cannot be accepted is reported as a list of :class:`Problem` — every one
names *where* (JSON pointer into the document, and the YAML line/column of that node) and
*what* (a stable ``code`` plus a human message). An evaluation that cannot finish raises
:class:`RuleEvaluationError` naming the rule (and table rows): the orchestrator quarantines
the event with that reason instead of treating the condition as false.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from interlock.errors import DomainError, ErrorDetail


@dataclass(frozen=True)
class Problem:
    """One mistake in a rule set document.

    ``line``/``column`` are 1-based positions in the *document* (0 when unknown, e.g. a
    JSON document built in code). For CEL problems ``expr_line``/``expr_column`` are the
    position inside the expression itself, as CEL reports it.
    """

    path: str
    code: str
    message: str
    line: int = 0
    column: int = 0
    expr_line: int | None = None
    expr_column: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.line else "(no position)"
        return f"{self.path or '/'} ({where}): [{self.code}] {self.message}"


class RuleSetInvalid(DomainError):
    """A rule set document was refused; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(
            message=f"{len(problems)} {noun} in the rule set",
            code="ruleset_invalid",
            details=[
                ErrorDetail(path=p.path, code=p.code, message=str(p), found=p.as_dict())
                for p in problems
            ],
        )


class RuleEvaluationError(DomainError):
    """A rule could not be evaluated (a CEL error value, a UNIQUE table with two hits…).

    Never swallowed into ``false``: the caller quarantines the event with this reason.
    """

    def __init__(
        self, message: str, *, rule_id: str, rows: tuple[int, ...] = (), code: str = "rule_error"
    ) -> None:
        self.rule_id = rule_id
        self.rows = rows
        super().__init__(message=f"rule {rule_id!r}: {message}", code=code)
