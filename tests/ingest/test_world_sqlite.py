"""The preload's constant SQL on SQLite (what ``make demo`` runs on): ``= ANY(array)`` and
``FOR UPDATE`` are PostgreSQL's, so the statement is rewritten there, and the rewrite reads
the same rows."""

from __future__ import annotations

import sqlite3

from orchestrator.ingest.world import _portable


def test_any_becomes_in_with_the_list_spread_and_the_lock_goes():
    sql = (
        'SELECT t."id" FROM "o" t WHERE t."plant_id" = ANY(%s) AND t."number" = ANY(%s) '
        'AND t."x" = %s ORDER BY t."id" FOR UPDATE OF t'
    )
    text, params = _portable(sql, [[1, 2], ["A"], 7])
    assert text == (
        'SELECT t."id" FROM "o" t WHERE t."plant_id" IN (%s, %s) AND t."number" IN (%s) '
        'AND t."x" = %s ORDER BY t."id"'
    )
    assert params == [1, 2, "A", 7]


def test_the_rewritten_statement_runs_on_sqlite():
    db = sqlite3.connect(":memory:")
    db.execute('CREATE TABLE "o" ("id" INTEGER, "plant_id" INTEGER, "number" TEXT)')
    db.executemany('INSERT INTO "o" VALUES (?, ?, ?)', [(1, 1, "A"), (2, 2, "A"), (3, 1, "B")])
    sql = 'SELECT t."id" FROM "o" t WHERE t."plant_id" = ANY(%s) AND t."number" = ANY(%s) ORDER BY t."id" FOR UPDATE OF t'
    text, params = _portable(sql, [[1], ["A", "B"]])
    assert db.execute(text.replace("%s", "?"), params).fetchall() == [(1,), (3,)]
    text, params = _portable(sql, [[], []])
    assert db.execute(text.replace("%s", "?"), params).fetchall() == []
