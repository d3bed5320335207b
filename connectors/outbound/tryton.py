"""The Tryton connector: Interlock's messages to an ERP become Tryton operations over
JSON-RPC (``connectors.tryton.rpc``).

The connected system: transport ``tryton``, ``base_url`` the database URL
(``http://erp:8000/<database>/``), ``credential_env`` a variable holding
``login:password`` of a Tryton user with the production and quality rights.

| message | in Tryton |
| --- | --- |
| ``goods_receipt`` | the production (``number`` = the order) is assigned and run when it is not yet, its output move gets the lot (created when new) and the received quantity, then ``production.do``. The receipt's ``reference`` is the production number. |
| ``production_order.acknowledgment`` | the MES accepted the order: ``assign_try`` reserves its components (it stays waiting when stock is short, as in Tryton), and a note records the acknowledgment |
| ``lot.status_change`` | a note on the lot (these modules have no lot status field) |
| ``operation.confirmation``, ``goods_issue``, ``scrap``, ``order.settle`` | a note on the production (Tryton's production module has no operations; inputs are consumed on *run*, cost is computed on *do*) |

**Quality control is respected.** With a quality control on ``production:do``, Tryton's
``do`` does not fail while an inspection is pending or missing: it answers a wizard action
(``quality.inspect``) and the production stays running. The connector reads that answer as
*not done*: a ``gated`` error naming the pending inspections, retried by delivery every
``INTERLOCK_TRYTON_GATE_RECHECK_SECONDS`` (not a failure: no attempt is used up and the
circuit stays closed) until the inspection passes, never a success. A failed inspection
makes ``do`` refuse with a user error, which is permanent (dead letter for a person).

Every step checks the state first, so a repeated delivery is a ``duplicate`` with the same
reference, never a second receipt; notes are written once per idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import urlsplit

from interlock.env import env_float

from ..tryton.rpc import TrytonClient, TrytonError, parse_credential
from .base import GATED, Connector, ConnectorError, OutboundMessage, Receipt, register
from .rest import credential

logger = logging.getLogger(__name__)

#: Messages Tryton keeps as notes on the production. ``atp.update`` among them: Tryton
#: derives what is available to promise from its own stock moves (the goods receipt's).
NOTE_TYPES = frozenset(
    {"operation.confirmation", "goods_issue", "scrap", "order.settle", "atp.update"}
)


def gate_recheck_seconds() -> float:
    return env_float("INTERLOCK_TRYTON_GATE_RECHECK_SECONDS", 60.0)


class Rejected(Exception):
    """This message cannot be applied in Tryton (unknown order, wrong state)."""


@register("tryton")
class TrytonConnector(Connector):
    """Posts goods receipts, acknowledgments and lot status to a Tryton database."""

    max_batch = 1  # one JSON-RPC transaction per message: Tryton has no batch endpoint

    def __init__(self, system) -> None:
        super().__init__(system)
        url = (system.base_url or "").strip()
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.path.strip("/"):
            raise ConnectorError(
                f"{system.code} has no usable Tryton URL ({url or 'empty'}); set "
                "http(s)://host:port/<database>/ on the connected system",
                permanent=True,
                code="config_error",
            )
        try:
            login, password = parse_credential(credential(system))
        except TrytonError as exc:
            raise ConnectorError(
                f"{system.credential_env}: {exc}", permanent=True, code="credential_missing"
            ) from exc
        self.client = TrytonClient(
            url, login=login, password=password, timeout=float(system.timeout_seconds)
        )

    def close(self) -> None:
        self.client.close()

    def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        return [self._send_one(m) for m in messages]

    def _send_one(self, message: OutboundMessage) -> Receipt:
        try:
            if message.type == "goods_receipt":
                return self._goods_receipt(message)
            if message.type == "production_order.acknowledgment":
                return self._acknowledgment(message)
            if message.type == "lot.status_change":
                return self._lot_status(message)
            if message.type in NOTE_TYPES:
                return self._production_note(message)
            raise Rejected(f"the Tryton connector does not take {message.type!r} messages")
        except Rejected as exc:
            return Receipt(message.idempotency_key, "rejected", error=str(exc))
        except TrytonError as exc:
            if exc.code == "user_error":
                # Tryton refused the operation (a failed inspection, a wrong quantity): the
                # same message gets the same answer; a person decides.
                return Receipt(message.idempotency_key, "rejected", error=str(exc))
            raise ConnectorError(
                f"tryton {exc.code}: {exc}",
                permanent=exc.permanent,
                status_code=exc.status_code,
                code="auth_failed" if exc.code == "auth_failed" else f"tryton_{exc.code}",
            ) from exc

    # --- lookups ------------------------------------------------------------------------------
    def _production(self, order: object) -> dict:
        if not isinstance(order, str) or not order:
            raise Rejected("the message names no order")
        rows = self.client.search_read(
            "production",
            [("number", "=", order)],
            [
                "number",
                "state",
                "product",
                "unit",
                "unit.symbol",
                "quantity",
                "outputs",
                "quality_inspections",
            ],
            limit=2,
        )
        if not rows:
            raise Rejected(f"production {order} is not in Tryton")
        return rows[0]

    def _note_once(self, resource: str, key: str, text: str) -> None:
        """A note on ``resource`` (``model,id``) carrying the idempotency key, written once."""
        marker = f"[interlock {key}]"
        if self.client.search_read(
            "ir.note", [("resource", "=", resource), ("message", "like", f"%{marker}%")], ["id"]
        ):
            return
        self.client.model(
            "ir.note", "create", [{"resource": resource, "message": f"{text}\n{marker}"}]
        )

    # --- messages -----------------------------------------------------------------------------
    def _acknowledgment(self, message: OutboundMessage) -> Receipt:
        p = message.payload
        production = self._production(p.get("order"))
        if production["state"] in ("request", "draft", "cancelled"):
            raise Rejected(
                f"production {production['number']} is {production['state']} in Tryton, "
                "not released"
            )
        if production["state"] == "waiting":
            self.client.model("production", "assign_try", [production["id"]])
        revisions = ", ".join(
            f"{name} {p[name]}" for name in ("routing_revision", "bom_revision") if p.get(name)
        )
        self._note_once(
            f"production,{production['id']}",
            message.idempotency_key,
            f"Acknowledged by the MES through Interlock{f' ({revisions})' if revisions else ''}.",
        )
        state = self._production(p.get("order"))["state"]
        return Receipt(
            message.idempotency_key,
            "applied",
            reference=production["number"],
            extra={"state": state},
        )

    def _lot_status(self, message: OutboundMessage) -> Receipt:
        p = message.payload
        lot, status = p.get("lot"), p.get("status")
        if not isinstance(lot, str) or not isinstance(status, str):
            raise Rejected("a lot status change names a lot and a status")
        rows = self.client.search_read("stock.lot", [("number", "=", lot)], ["id"], limit=1)
        if not rows:
            # A produced lot enters Tryton with its goods receipt (production ``do``), which
            # may still wait on Tryton's quality control: not done yet, retried like a gate.
            raise ConnectorError(
                f"lot {lot} is not in Tryton yet (it comes with its goods receipt); "
                "the status change waits for it",
                retry_after=gate_recheck_seconds(),
                code=GATED,
            )
        reason = f": {p['reason']}" if isinstance(p.get("reason"), str) else ""
        self._note_once(
            f"stock.lot,{rows[0]['id']}",
            message.idempotency_key,
            f"Lot status {status} (Interlock){reason}.",
        )
        return Receipt(message.idempotency_key, "applied", reference=lot)

    def _production_note(self, message: OutboundMessage) -> Receipt:
        p = message.payload
        production = self._production(p.get("order"))
        details = ", ".join(
            f"{k} {p[k]}"
            for k in ("operation", "item", "lot", "qty", "uom", "reason", "document")
            if isinstance(p.get(k), str | int | float)
        )
        self._note_once(
            f"production,{production['id']}",
            message.idempotency_key,
            f"{message.type} from Interlock: {details}.",
        )
        return Receipt(message.idempotency_key, "applied", reference=production["number"])

    def _goods_receipt(self, message: OutboundMessage) -> Receipt:
        p = message.payload
        production = self._production(p.get("order"))
        number, pid = production["number"], production["id"]
        if production["state"] == "done":
            return Receipt(message.idempotency_key, "duplicate", reference=number)
        if production["state"] in ("request", "draft", "cancelled"):
            raise Rejected(f"production {number} is {production['state']} in Tryton")
        if production["state"] == "waiting":
            self.client.model("production", "assign_try", [pid])
            production = self._production(number)
            if production["state"] == "waiting":
                raise ConnectorError(
                    f"production {number} waits for its components in Tryton "
                    "(not assigned: no stock); the receipt is posted once they are",
                    retry_after=gate_recheck_seconds(),
                    code=GATED,
                )
        if production["state"] == "assigned":
            # Tryton's quality control guards run too: with any inspection of the production
            # pending, run answers the inspection wizard and the production stays assigned.
            answer = self.client.model("production", "run", [pid])
            if self._production(number)["state"] != "running":
                raise self._gate(answer, number, pid, "run")
        self._set_output(production, p)
        answer = self.client.model("production", "do", [pid])
        after = self._production(number)
        if after["state"] == "done":
            extra: dict = {}
            if isinstance(p.get("qty"), int | float) and isinstance(p.get("uom"), str):
                extra = {"qty": p["qty"], "uom": p["uom"]}
            return Receipt(message.idempotency_key, "applied", reference=number, extra=extra)
        raise self._gate(answer, number, pid, "do")

    def _gate(self, answer: object, number: str, pid: int, step: str) -> ConnectorError:
        """The error for a production that did not move on ``step``: a gate when Tryton
        answered its quality wizard (retried), else a transient surprise."""
        if isinstance(answer, dict) and answer.get("type") == "ir.action.wizard":
            pending = self.client.search_read(
                "quality.inspection",
                [("origin", "=", f"production,{pid}"), ("state", "=", "pending")],
                ["number"],
            )
            names = ", ".join(i["number"] for i in pending)
            held = (
                f"pending inspection {names}"
                if names
                else "a quality control that has no inspection yet"
            )
            return ConnectorError(
                f"Tryton holds production {number} for quality on {step} ({held}; "
                f"{answer.get('name') or answer.get('wiz_name')}); the receipt is posted "
                "when the inspection passes",
                retry_after=gate_recheck_seconds(),
                code=GATED,
            )
        return ConnectorError(
            f"production {number} did not move on {step} in Tryton (answer {answer!r})",
            code="tryton_not_done",
        )

    def _set_output(self, production: dict, p: dict) -> None:
        """The lot and quantity received on the output move of the produced product."""
        moves = self.client.search_read(
            "stock.move",
            [("id", "in", production["outputs"]), ("product", "=", production["product"])],
            ["id", "lot", "quantity", "state"],
        )
        moves = [m for m in moves if m["state"] not in ("done", "cancelled")]
        if not moves:
            return
        values: dict = {}
        lot = p.get("lot")
        if isinstance(lot, str) and lot:
            found = self.client.search_read(
                "stock.lot",
                [("number", "=", lot), ("product", "=", production["product"])],
                ["id"],
                limit=1,
            )
            if found:
                lot_id = found[0]["id"]
            else:
                [lot_id] = self.client.model(
                    "stock.lot", "create", [{"number": lot, "product": production["product"]}]
                )
            values["lot"] = lot_id
        qty = p.get("qty")
        unit = (production.get("unit.") or {}).get("symbol")
        if isinstance(qty, int | float) and qty > 0 and len(moves) == 1 and p.get("uom") == unit:
            # Only in the production's own unit (the outbound mapping gives plant units);
            # otherwise Tryton keeps the planned quantity rather than a wrong one.
            values["quantity"] = float(Decimal(str(qty)))
        if values:
            self.client.model("stock.move", "write", [m["id"] for m in moves], values)
