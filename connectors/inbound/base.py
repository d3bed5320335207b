"""What every inbound transport shares: hand envelopes to the ingest pipeline, and keep
what cannot even become an envelope (a broken XML element, a bad EDI segment, a CSV row
whose cells do not parse, a Sparkplug message after a sequence gap) as a quarantined
message that names where it was (``path``: an XPath, ``segment 7 element 3``, ``row 12``).

Transports never decide events themselves: :func:`deliver` calls
``orchestrator.ingest.pipeline.ingest_batch``, the same entry point as
``POST /api/v1/events``, so raw store, idempotency, mapping and quarantine are the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from interlock import jsonsafe
from orchestrator.ingest.pipeline import ItemResult, ingest_batch, principal_for
from orchestrator.models import InboundMessage, MessageStatus

__all__ = ["Problem", "TransportOutcome", "deliver", "inbound_quarantine", "principal_for"]

#: Longest raw excerpt kept with a quarantined fragment.
RAW_LIMIT = 100_000


@dataclass
class Problem:
    """One thing wrong with a fragment of a document, and where it is."""

    code: str
    path: str
    message: str
    line: int | None = None
    expected: Any = None
    found: Any = None

    def as_dict(self) -> dict[str, Any]:
        message = self.message
        if self.line is not None:  # also in the text: the workbench shows code/path/message
            message = f"{message} (line {self.line})"
        out: dict[str, Any] = {"code": self.code, "path": self.path, "message": message}
        for name in ("line", "expected", "found"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass
class TransportOutcome:
    """What one document (a file, a request, an MQTT message) turned into."""

    results: list[ItemResult] = field(default_factory=list)
    quarantined: list[int] = field(default_factory=list)  # ids of quarantined fragments

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            status = str(result.status)  # a TextChoices member: orjson wants a plain str key
            counts[status] = counts.get(status, 0) + 1
        if self.quarantined:
            counts["quarantined"] = counts.get("quarantined", 0) + len(self.quarantined)
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts(),
            "results": [r.as_dict() for r in self.results],
            "quarantined_message_ids": self.quarantined,
        }


def deliver(*, principal, envelopes: list[dict], outcome: TransportOutcome | None = None):
    """Ingest ``envelopes`` as ``principal`` (the same pipeline as the REST API)."""
    outcome = outcome or TransportOutcome()
    if envelopes:
        outcome.results.extend(
            ingest_batch(principal=principal, envelopes=envelopes, request_id=uuid.uuid4())
        )
    return outcome


def inbound_quarantine(
    *,
    principal,
    transport: str,
    document: str,
    problems: list[Problem],
    raw: str = "",
    envelope: dict | None = None,
    plant=None,
    event_type: str = "",
) -> InboundMessage:
    """Store a fragment that could not go on, as a quarantined inbound message.

    With ``envelope`` (a complete envelope held back, e.g. after a Sparkplug sequence gap)
    the body is that envelope, so an operator can replay it as is. Otherwise the body keeps
    the raw fragment, the transport and the document it came from; the sender corrects
    and sends it again (a replay of it is rejected as not being an envelope).
    """
    now = timezone.now()
    if envelope is not None:
        body: dict[str, Any] = envelope
    else:
        # A file may be anything (a PNG sent by mistake): NUL and lone surrogates are
        # kept as escapes, since PostgreSQL's jsonb cannot hold them.
        body = {
            "transport": transport,
            "document": jsonsafe.storable(document),
            "raw": jsonsafe.storable(raw[:RAW_LIMIT]),
        }
    correlation_id = (envelope or {}).get("correlation_id") or str(uuid.uuid4())
    return InboundMessage.objects.create(
        received_at=now,
        request_id=uuid.uuid4(),
        system=principal.system,
        plant=plant,
        source=principal.system.code,
        plant_code=(envelope or {}).get("plant", plant.code if plant else "")[:100],
        event_type=str((envelope or {}).get("type", event_type))[:100],
        message_id=jsonsafe.storable(str((envelope or {}).get("message_id", document)))[:200],
        correlation_id=str(correlation_id)[:100],
        body=body,
        status=MessageStatus.QUARANTINED,
        reasons=[
            {
                **{
                    k: jsonsafe.storable(v) if isinstance(v, str) else v
                    for k, v in p.as_dict().items()
                },
                "transport": transport,
            }
            for p in problems
        ],
        processed_at=now,
    )
