"""The few SQL expressions that differ between PostgreSQL and SQLite (the demo's default).

Rollups are written as raw ``INSERT … SELECT … GROUP BY … ON CONFLICT`` statements because
the ORM cannot express an upsert from a query; both databases understand that statement,
only truncating a timestamp, subtracting two and reading JSON are spelt differently.
"""

from __future__ import annotations

from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def trunc(unit: str, column: str) -> str:
    """``column`` truncated to the ``minute`` or ``hour``."""
    if is_postgres():
        return f"date_trunc('{unit}', {column})"
    # Doubled percent signs: these statements always go through the parameter substitution.
    fmt = {"minute": "%%Y-%%m-%%d %%H:%%M:00", "hour": "%%Y-%%m-%%d %%H:00:00"}[unit]
    return f"strftime('{fmt}', {column})"


def seconds_between(later: str, earlier: str) -> str:
    """``later - earlier`` in seconds, as a float expression."""
    if is_postgres():
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def first_reason_code(column: str) -> str:
    """The ``code`` of the first machine-readable reason in a JSON list column, or ''."""
    if is_postgres():
        return f"COALESCE(LEFT({column} -> 0 ->> 'code', 60), '')"
    return f"COALESCE(substr(json_extract({column}, '$[0].code'), 1, 60), '')"


def in_list(column: str, values: list[str] | tuple[str, ...]) -> tuple[str, list]:
    """``column IN (%s, …)`` with its parameters (an empty list matches nothing)."""
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)
