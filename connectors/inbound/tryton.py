"""The Tryton poller: productions released in Tryton become ``production_order.released``.

Tryton does not call out, so Interlock asks: every ``INTERLOCK_TRYTON_POLL_SECONDS`` (beat
task ``connectors.poll_tryton``, or ``manage.py tryton_poll``) each active
:class:`~connectors.models.TrytonSource` reads, over JSON-RPC, the productions of its
warehouse that are released (``waiting``, ``assigned`` or ``running``: Tryton's *Wait*
is the release to the shop floor, which gives the production its number) and were written
since the source's watermark.

Each becomes one v1 envelope in the plant's own codes, handed to ``base.deliver`` like
every transport (raw store, mapping, idempotency, quarantine):

| release field | from Tryton |
| --- | --- |
| ``order`` | the production's ``number`` |
| ``item``, ``qty``, ``uom`` | its product's code, quantity and unit symbol |
| ``bom_revision`` | the name of its BOM (Tryton keeps a BOM per revision: name it so) |
| ``components`` | its input moves: product code, quantity, unit symbol |
| ``due_date`` | its planned date |
| ``routing_revision``, ``operations`` | the source's (the production module has no routing) |

The watermark moves only after the batch was stored, and rows at the watermark are read
again; a production read twice is a ``duplicate`` of its first release, so nothing is lost
or doubled when the poller stops between the two. A changed quantity or BOM of an order
already released is a re-release: the order's revisions are kept (``OrderRevision``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.utils import timezone

from interlock.env import env_str

from ..tryton.rpc import TrytonClient, TrytonError, parse_credential
from . import base

logger = logging.getLogger(__name__)

RELEASED_STATES = ["waiting", "assigned", "running"]
#: Productions read per poll and source (the rest on the next poll: the watermark moves).
PAGE = 200
FIELDS = [
    "number",
    "state",
    "quantity",
    "planned_date",
    "write_date",
    "create_date",
    "inputs",
    "product.code",
    "unit.symbol",
    "bom.name",
]


@dataclass
class PollResult:
    """What one poll of one source did."""

    source: str
    read: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "read": self.read,
            "statuses": self.statuses,
            "error": self.error,
        }


def client_for(system) -> TrytonClient:
    secret = env_str(system.credential_env, "") if system.credential_env else ""
    if not secret:
        raise TrytonError(
            f"credential variable {system.credential_env or '(none)'} of {system.code} is not set",
            permanent=True,
            code="auth_failed",
        )
    login, password = parse_credential(secret)
    return TrytonClient(
        system.base_url, login=login, password=password, timeout=float(system.timeout_seconds)
    )


def _utc(value) -> str:
    """Tryton's naive UTC datetime → RFC 3339."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return timezone.now().isoformat().replace("+00:00", "Z")


def _code(row: dict, name: str) -> str | None:
    """``product.code`` read through a Many2One (``{"product.": {"code": ...}}``)."""
    related, attr = name.split(".")
    value = (row.get(f"{related}.") or {}).get(attr)
    return value if isinstance(value, str) and value else None


def envelope(source, row: dict, inputs: list[dict]) -> dict:
    """One released production as a v1 envelope in the plant's codes."""
    payload: dict = {
        "order": row["number"],
        "item": _code(row, "product.code") or f"tryton-product-{row.get('product')}",
        "qty": float(row["quantity"] or 0),
        "uom": _code(row, "unit.symbol") or "",
        "routing_revision": source.routing_revision,
        "bom_revision": _code(row, "bom.name") or "none",
        "erp_reference": f"production,{row['id']}",
        "operations": [dict(op) for op in source.operations],
        "components": [
            {
                "item": _code(m, "product.code") or f"tryton-product-{m.get('product')}",
                "qty": float(m["quantity"] or 0),
                "uom": _code(m, "unit.symbol") or "",
            }
            for m in inputs
            if m.get("state") != "cancelled"
        ],
    }
    if isinstance(row.get("planned_date"), dt.date):
        payload["due_date"] = row["planned_date"].isoformat()
    return {
        "source": source.system.code,
        "plant": source.plant.code,
        "type": "production_order.released",
        "occurred_at": _utc(row.get("write_date") or row.get("create_date")),
        "message_id": f"tryton:production:{row['id']}:released",
        "payload": payload,
    }


def poll_source(source, *, client: TrytonClient | None = None) -> PollResult:
    """Read released productions of ``source`` since its watermark and ingest them."""
    from ..models import TrytonSource

    result = PollResult(source=str(source))
    own = client is None
    try:
        client = client or client_for(source.system)
        domain: list = [("state", "in", RELEASED_STATES)]
        if source.warehouse:
            domain.append(("warehouse.code", "=", source.warehouse))
        if source.watermark is not None:
            # Tryton stores naive UTC; rows at the watermark are read again (duplicates).
            mark = source.watermark.astimezone(dt.UTC).replace(tzinfo=None)
            domain.append(["OR", ("write_date", ">=", mark), ("create_date", ">=", mark)])
        rows = client.search_read(
            "production", domain, FIELDS, order=[("write_date", "ASC"), ("id", "ASC")], limit=PAGE
        )
        result.read = len(rows)
        moves = {}
        input_ids = [i for r in rows for i in r.get("inputs") or []]
        if input_ids:
            for m in client.search_read(
                "stock.move",
                [("id", "in", input_ids)],
                ["quantity", "state", "product.code", "unit.symbol"],
            ):
                moves[m["id"]] = m
        envelopes = [
            envelope(source, r, [moves[i] for i in r.get("inputs") or [] if i in moves])
            for r in rows
        ]
        if envelopes:
            outcome = base.deliver(principal=base.principal_for(source.system), envelopes=envelopes)
            result.statuses = outcome.counts()
        marks = [r.get("write_date") or r.get("create_date") for r in rows]
        marks = [m for m in marks if isinstance(m, dt.datetime)]
        updates: dict = {"last_polled_at": timezone.now(), "last_error": ""}
        if marks:
            updates["watermark"] = max(marks).replace(tzinfo=dt.UTC)
        TrytonSource.objects.filter(pk=source.pk).update(**updates)
    except TrytonError as exc:
        result.error = f"{exc.code}: {exc}"
        logger.warning("polling %s failed: %s", source, result.error)
        TrytonSource.objects.filter(pk=source.pk).update(
            last_polled_at=timezone.now(), last_error=result.error[:4000]
        )
    finally:
        if own and client is not None:
            client.close()
    return result


def poll_all() -> list[PollResult]:
    """Poll every active source of every active Tryton system (beat task, command)."""
    from ..models import TrytonSource

    sources = TrytonSource.objects.filter(active=True, system__active=True).select_related(
        "system", "plant"
    )
    return [poll_source(s) for s in sources]
