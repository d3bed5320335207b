"""The tamper-evident audit trail (issue 11, finding 10): a hash chain sealed after the
insert, ``audit_verify`` reporting the first broken link, TRUNCATE refused to the
application's role, and a deploy check that the role neither owns the trail nor is a
superuser."""

from __future__ import annotations

import itertools
import logging
import uuid

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from orchestrator.models import AuditRecord, AuditSeal, Notification, ProductionOrder
from orchestrator.services.audit_chain import GENESIS, audit_seal, audit_verify, record_digest
from orchestrator.system_checks import audit_role_check
from tests.factories import PlantFactory

TABLE = AuditRecord._meta.db_table


def _records(n: int, *, start: int = 0) -> list[AuditRecord]:
    ct = ContentType.objects.get_for_model(ProductionOrder)
    return [
        AuditRecord.objects.create(
            actor_label="system:MES-P1",
            content_type=ct,
            object_id=str(1000 + i),
            object_repr=f"WO-{i}",
            field="lifecycle_state",
            transition="release",
            source_state="created",
            target_state="released",
            reason=f"because {i}",
            correlation_id=f"corr-{i}",
        )
        for i in range(start, start + n)
    ]


@pytest.mark.django_db
def test_records_are_sealed_in_id_order_into_one_chain_and_verify():
    records = _records(5)
    assert AuditRecord.objects.filter(record_hash__isnull=True).count() == 5  # inserted bare
    assert audit_seal() == 5
    chain = list(AuditRecord.objects.order_by("chain_seq").values())
    assert [r["id"] for r in chain] == [r.pk for r in records]
    assert [r["chain_seq"] for r in chain] == [1, 2, 3, 4, 5]
    assert chain[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(chain):
        assert after["prev_hash"] == before["record_hash"]
    for row in chain:
        assert row["record_hash"] == record_digest(
            row, chain_seq=row["chain_seq"], prev_hash=row["prev_hash"]
        )
    assert audit_seal() == 0  # nothing new
    _records(2, start=5)
    assert audit_seal() == 2
    assert list(AuditSeal.objects.order_by("chain_seq").values_list("chain_seq", flat=True)) == [
        5,
        7,
    ]
    result = audit_verify()
    assert result.ok, result.broken
    assert (result.checked, result.head_seq, result.unsealed) == (7, 7, 0)


@pytest.mark.django_db
def test_audit_verify_command_seals_and_reports_an_intact_trail(capsys):
    _records(3)
    call_command("audit_verify")
    assert "audit trail intact: 3 records, head 3" in capsys.readouterr().out


# --- tampering (PostgreSQL: as a superuser who disables the trigger) -------------------
def _tamper(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        # Deferred foreign-key checks of this test's inserts would block ALTER TABLE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


@pytest.fixture
def sealed_trail(db):
    PlantFactory(code="P1")
    records = _records(5)
    audit_seal()
    return records


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sql", "kind", "at"),
    [
        (f"UPDATE {TABLE} SET reason = 'forged' WHERE chain_seq = 3", "edited", 3),
        (f"UPDATE {TABLE} SET target_state = 'cancelled' WHERE chain_seq = 1", "edited", 1),
        (f"DELETE FROM {TABLE} WHERE chain_seq = 3", "missing", 3),
        (f"DELETE FROM {TABLE} WHERE chain_seq = 5", "truncated", 5),
        (f"TRUNCATE {TABLE}", "truncated", 1),
    ],
    ids=["edited", "edited-first", "deleted", "deleted-last", "truncated"],
)
def test_audit_verify_reports_the_first_broken_link(sealed_trail, sql, kind, at, caplog):
    _tamper(sql)
    result = audit_verify()
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_seq) == (kind, at), result.broken
    # the command says so, exits 1, logs an ERROR and alerts the auditors (once)
    caplog.set_level(logging.ERROR)
    with pytest.raises(CommandError, match=f"audit trail broken at {at} \\({kind}\\)") as exc:
        call_command("audit_verify")
    assert exc.value.returncode == 1
    assert any("AUDIT TRAIL BROKEN" in r.getMessage() for r in caplog.records)
    with pytest.raises(CommandError):
        call_command("audit_verify")
    alert = Notification.objects.get(kind="audit_alert")  # one plant, one alert, not two
    assert alert.role == "auditor"
    assert alert.details["kind"] == kind


@pytest.mark.postgres
def test_a_rebuilt_chain_does_not_match_its_seals(sealed_trail):
    """Edit a record and recompute every hash after it: the seal still knows the old head."""
    _tamper(f"UPDATE {TABLE} SET reason = 'forged' WHERE chain_seq = 2")
    rows = list(AuditRecord.objects.order_by("chain_seq").values())
    prev = rows[0]["record_hash"]
    for row in rows[1:]:
        digest = record_digest(row, chain_seq=row["chain_seq"], prev_hash=prev)
        _tamper(
            f"UPDATE {TABLE} SET prev_hash = %s, record_hash = %s WHERE id = %s",
            [prev, digest, row["id"]],
        )
        prev = digest
    result = audit_verify()
    assert result.broken is not None
    assert result.broken.kind == "seal_mismatch"


# --- the trigger, as the application's role --------------------------------------------
@pytest.fixture
def app_role(db):
    """A non-superuser role with every table privilege on the trail (so that only the
    trigger can refuse), created inside the test's transaction (rolled back after)."""
    role = f"interlock_app_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN NOSUPERUSER")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(f"GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"GRANT ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public TO {role}")
    return role


def _as(role: str, sql: str, params=()) -> None:
    # On an error the savepoint's rollback undoes SET LOCAL ROLE too.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # else TRUNCATE waits on them
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute(sql, params)
        cursor.execute("RESET ROLE")


@pytest.mark.postgres
def test_the_application_role_cannot_truncate_update_or_delete_the_trail(app_role):
    [record] = _records(1)
    seal_table = AuditSeal._meta.db_table
    refused = [
        f"TRUNCATE {TABLE}",
        f"TRUNCATE {TABLE} CASCADE",
        f"TRUNCATE {seal_table}",
        f"UPDATE {TABLE} SET reason = 'forged' WHERE id = {record.pk}",
        # chain columns plus content in one go: refused too
        f"UPDATE {TABLE} SET chain_seq = 1, prev_hash = 'x', record_hash = 'y', "
        f"reason = 'forged' WHERE id = {record.pk}",
        f"DELETE FROM {TABLE} WHERE id = {record.pk}",
    ]
    for sql in refused:
        with pytest.raises(DatabaseError, match=r"append-only|immutable"):
            _as(app_role, sql)
    # The sealer's update (chain columns only, from NULL) goes through, once.
    _as(app_role, f"SELECT 1 FROM {TABLE}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {app_role}")
        sealed = audit_seal()
        cursor.execute("RESET ROLE")
    assert sealed == 1
    for sql in (
        f"UPDATE {TABLE} SET record_hash = 'forged' WHERE id = {record.pk}",
        f"DELETE FROM {seal_table}",
        f"UPDATE {seal_table} SET record_hash = 'forged'",
    ):
        with pytest.raises(DatabaseError, match=r"append-only|immutable"):
            _as(app_role, sql)
    assert AuditRecord.objects.count() == 1
    assert audit_verify().ok


@pytest.mark.postgres
def test_deploy_check_refuses_an_owner_or_superuser_role_and_accepts_the_app_role(app_role):
    ids = {problem.id for problem in audit_role_check()}
    assert ids == {"interlock.E101", "interlock.E102"}  # tests connect as postgres, the owner
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {app_role}")
        problems = audit_role_check()
        cursor.execute("RESET ROLE")
    assert problems == []
