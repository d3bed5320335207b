"""The tamper-evident audit trail: seal audit records into one hash chain and verify it.

**One global chain**, not one per plant: records without a plant (rule versions, global
objects) need a chain too, sealing is one short serial job whatever the number of plants,
and a single chain shows a deletion anywhere with a single walk. Per-plant chains would
buy parallel sealing we do not need (a sealing run hashes thousands of records a second).

**Sealing after the insert.** The hot path (``BatchContext``, ``transition_apply``) keeps
inserting records set-wise with empty chain columns. :func:`audit_seal` (beat, every
minute, and before every verification) takes the unsealed records in id order and gives
each ``chain_seq`` (1, 2, …, no gaps), ``prev_hash`` (the hash of the record before it,
:data:`GENESIS` for the first) and ``record_hash`` = SHA-256 of the canonical JSON of its
content plus those two. A record that commits late (a lower id than one already sealed)
simply gets the next ``chain_seq``. Each run appends an :class:`AuditSeal` (head sequence
and hash) and logs the head, a copy outside the table.

**Verifying.** :func:`audit_verify` recomputes every hash in ``chain_seq`` order and
reports the first broken link: an edited record (its hash no longer matches), a deleted
one (a gap in the sequence, or a ``prev_hash`` pointing elsewhere), and a truncated trail
(it ends before the last seal). The database trigger already refuses UPDATE, DELETE and
TRUNCATE to the application's role; the chain is what shows tampering by anyone who could
disable the trigger (the table owner, a superuser).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from ..models import AuditRecord, AuditSeal, Notification
from ..models.notifications import NotificationKind

logger = logging.getLogger(__name__)

#: ``prev_hash`` of the first record.
GENESIS = "0" * 64
#: Records sealed per transaction (a run loops until none is left).
SEAL_CHUNK = 5000
#: Any constant: the PostgreSQL advisory lock that makes sealing serial.
_SEAL_LOCK = 0x1A0D17

#: The content a record's hash covers, in this order (names of ``AuditRecord`` columns).
CONTENT_FIELDS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "content_type_id",
    "object_id",
    "object_repr",
    "plant_id",
    "field",
    "transition",
    "source_state",
    "target_state",
    "reason",
    "correlation_id",
)
_COLUMNS = (*CONTENT_FIELDS, "chain_seq", "prev_hash", "record_hash")


def record_digest(values: dict[str, Any], *, chain_seq: int, prev_hash: str) -> str:
    """SHA-256 (hex) of a record's canonical content and its place in the chain."""
    content = {name: values[name] for name in CONTENT_FIELDS}
    content["occurred_at"] = values["occurred_at"].isoformat(timespec="microseconds")
    content["chain_seq"] = chain_seq
    content["prev_hash"] = prev_hash
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _head() -> tuple[int, str]:
    last = (
        AuditRecord.objects.filter(chain_seq__isnull=False)
        .order_by("-chain_seq")
        .values_list("chain_seq", "record_hash")
        .first()
    )
    return last if last is not None else (0, GENESIS)


def audit_seal(*, chunk: int = SEAL_CHUNK) -> int:
    """Seal every unsealed audit record, in id order; returns how many. Serial (an advisory
    lock on PostgreSQL; SQLite's write transactions are serial anyway) and safe to run at
    any time and twice."""
    total = 0
    while True:
        sealed = _seal_chunk(chunk)
        total += sealed
        if sealed < chunk:
            return total


def _seal_chunk(limit: int) -> int:
    table = connection.ops.quote_name(AuditRecord._meta.db_table)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK])
        seq, prev = _head()
        rows = list(
            AuditRecord.objects.filter(record_hash__isnull=True)
            .order_by("id")
            .values(*CONTENT_FIELDS)[:limit]
        )
        if not rows:
            return 0
        updates = []
        for row in rows:
            seq += 1
            digest = record_digest(row, chain_seq=seq, prev_hash=prev)
            updates.append((seq, prev, digest, row["id"]))
            prev = digest
        # Raw SQL: the model refuses updates (as it should for every other caller), and
        # the trigger lets exactly this one through, once per record.
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET chain_seq = %s, prev_hash = %s, record_hash = %s "  # noqa: S608 - quoted name only
                "WHERE id = %s AND record_hash IS NULL",
                updates,
            )
        AuditSeal.objects.create(chain_seq=seq, record_hash=prev, records=len(rows))
    logger.info("audit chain sealed to %d (%s), %d records", seq, prev, len(rows))
    return len(rows)


@dataclass
class AuditBreak:
    """The first broken link: where (``chain_seq``, record id) and what is wrong."""

    kind: str  # edited | missing | relinked | truncated | seal_mismatch
    chain_seq: int
    record_id: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "chain_seq": self.chain_seq,
            "record_id": self.record_id,
            "message": self.message,
        }


@dataclass
class AuditVerification:
    """What :func:`audit_verify` found: the records checked, the head, the first break."""

    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    unsealed: int = 0
    broken: AuditBreak | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken is None


def audit_verify(*, seal: bool = True, chunk: int = SEAL_CHUNK) -> AuditVerification:
    """Recompute the chain and report the first broken link (``result.broken``). With
    ``seal`` (the default), unsealed records are sealed first, so they are covered too."""
    if seal:
        audit_seal()
    result = AuditVerification()
    expected_seq, prev = 1, GENESIS
    last_id = None
    after = 0
    while result.broken is None:
        rows = list(
            AuditRecord.objects.filter(chain_seq__gt=after)
            .order_by("chain_seq")
            .values(*_COLUMNS)[:chunk]
        )
        if not rows:
            break
        for row in rows:
            seq = row["chain_seq"]
            if seq != expected_seq:
                result.broken = AuditBreak(
                    "missing",
                    expected_seq,
                    None,
                    f"records {expected_seq}..{seq - 1} of the chain are missing (deleted); "
                    f"the next is record {row['id']} at {seq}, after record {last_id}",
                )
                break
            if row["prev_hash"] != prev:
                result.broken = AuditBreak(
                    "relinked",
                    seq,
                    row["id"],
                    f"record {row['id']} at {seq} links to {row['prev_hash']}, but the record "
                    f"before it hashes to {prev}",
                )
                break
            digest = record_digest(row, chain_seq=seq, prev_hash=row["prev_hash"])
            if digest != row["record_hash"]:
                result.broken = AuditBreak(
                    "edited",
                    seq,
                    row["id"],
                    f"record {row['id']} at {seq} was changed after it was sealed: its "
                    f"content hashes to {digest}, the chain says {row['record_hash']}",
                )
                break
            result.checked += 1
            prev, last_id, expected_seq = row["record_hash"], row["id"], seq + 1
        after = rows[-1]["chain_seq"]
    result.head_seq, result.head_hash = expected_seq - 1, prev
    result.unsealed = AuditRecord.objects.filter(record_hash__isnull=True).count()
    if result.broken is None:
        result.broken = _check_seal(result)
    return result


def _check_seal(result: AuditVerification) -> AuditBreak | None:
    """Every seal must still find its hash at its position: the trail was not cut short
    (truncated, or its tail deleted) nor rebuilt since. One query over the seals."""
    at_position = AuditRecord.objects.filter(chain_seq=OuterRef("chain_seq")).values("record_hash")[
        :1
    ]
    seal = (
        AuditSeal.objects.annotate(found=Subquery(at_position))
        .filter(Q(found__isnull=True) | ~Q(found=F("record_hash")))
        .order_by("chain_seq")
        .first()
    )
    if seal is None:
        return None
    if seal.found is None:
        return AuditBreak(
            "truncated",
            min(result.head_seq + 1, seal.chain_seq),
            None,
            f"the trail ends at {result.head_seq}, but it was sealed up to {seal.chain_seq} "
            f"({seal.record_hash}) at {seal.sealed_at.isoformat()}: records up to "
            f"{seal.chain_seq} were removed (deleted or truncated)",
        )
    return AuditBreak(
        "seal_mismatch",
        seal.chain_seq,
        None,
        f"the record at {seal.chain_seq} hashes to {seal.found}, but the seal of "
        f"{seal.sealed_at.isoformat()} says {seal.record_hash}: the chain was rebuilt",
    )


def audit_verify_and_alert() -> AuditVerification:
    """The scheduled verification: seal, verify, and on a break log an ERROR and leave an
    ``audit_alert`` notification for the auditors at every plant (once per break)."""
    from plants.models import Plant

    result = audit_verify()
    if result.ok:
        logger.info("audit chain verified: %d records, head %s", result.checked, result.head_hash)
        return result
    broken = result.broken
    logger.error("AUDIT TRAIL BROKEN at %d: %s", broken.chain_seq, broken.message)
    fingerprint = f"{broken.kind}:{broken.chain_seq}:{broken.record_id}"
    if Notification.objects.filter(
        kind=NotificationKind.AUDIT_ALERT, details__fingerprint=fingerprint
    ).exists():
        return result
    now = timezone.now()
    Notification.objects.bulk_create(
        [
            Notification(
                plant=plant,
                kind=NotificationKind.AUDIT_ALERT,
                role="auditor",
                message=f"Audit trail broken at {broken.chain_seq}: {broken.message}"[:500],
                details={**broken.as_dict(), "fingerprint": fingerprint},
                rule="audit_verify",
                correlation_id=f"audit-verify-{now:%Y%m%dT%H%M%S}",
                created_at=now,
            )
            for plant in Plant.objects.all()
        ]
    )
    return result
