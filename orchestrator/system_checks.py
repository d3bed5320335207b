"""Deploy checks of the orchestrator (``manage.py check --deploy``).

The audit trail's triggers refuse UPDATE, DELETE and TRUNCATE, but the *owner* of a table
(and any superuser) can disable its triggers. So the role the application connects as must
be neither: migrations run as the owner role, the application as a role that may only
SELECT and INSERT the audit trail and set its chain columns (README: "Audit trail").
"""

from __future__ import annotations

from django.core.checks import Error, Warning, register
from django.db import DatabaseError, connection

AUDIT_TABLES = ("orchestrator_auditrecord", "orchestrator_auditseal")


@register("database", deploy=True)
def audit_role_check(app_configs=None, **kwargs) -> list:
    """interlock.E101/E102: the application's role owns the audit tables / is a superuser."""
    if connection.vendor != "postgresql":
        return []  # SQLite (the embedded demo) has no roles; the chain still shows tampering
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
            )
            role, superuser = cursor.fetchone()
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE tablename = ANY(%s) AND tableowner = %s",
                [list(AUDIT_TABLES), role],
            )
            owned = sorted(name for (name,) in cursor.fetchall())
    except DatabaseError as exc:
        return [
            Warning(
                f"could not check the audit tables' owner: {exc}",
                id="interlock.W101",
            )
        ]
    problems = []
    hint = (
        "Run migrations as the owner role and serve the application as a role with SELECT, "
        "INSERT and UPDATE (chain_seq, prev_hash, record_hash) on the audit trail; see the "
        "README section 'Audit trail'."
    )
    if owned:
        problems.append(
            Error(
                f"the application's database role {role!r} owns {', '.join(owned)}: it can "
                "disable the triggers that keep the audit trail append-only",
                hint=hint,
                id="interlock.E101",
            )
        )
    if superuser:
        problems.append(
            Error(
                f"the application's database role {role!r} is a superuser: it can disable "
                "any trigger and truncate the audit trail",
                hint=hint,
                id="interlock.E102",
            )
        )
    return problems
