"""W3 baseline (``python -m bench w3``): one Celery task per event, each posting that one
event to the ERP simulator's single-message endpoint, as a tutorial would write it.

Loaded only by the bench worker: Celery's autodiscovery finds this module because
``bench.settings`` installs ``bench.naive``; the product's settings never do. The ERP's
address comes from ``BENCH_ERP_URL`` (set by ``bench/w3_bench.py`` for its worker).
"""

from __future__ import annotations

import os

import httpx
from celery import shared_task
from django.utils import timezone

from .models import NaiveEvent

#: Canonical event type → the ERP message it becomes (as in the order-to-receipt pack).
ERP_MESSAGE = {
    "operation.confirmed": "operation.confirmation",
    "material.issued": "goods_issue",
    "scrap.declared": "scrap",
}


#: One keep-alive client per worker process. (``httpx.post`` would build a client, and its
#: TLS context, per call: ~30 ms of CPU each, which would make the baseline a strawman.)
_client: httpx.Client | None = None


def _erp() -> httpx.Client:
    global _client
    if _client is None:
        _client = httpx.Client(base_url=os.environ["BENCH_ERP_URL"].rstrip("/"), timeout=10.0)
    return _client


def idempotency_key(event: NaiveEvent) -> str:
    return f"naive|{event.message_id or event.pk}"


@shared_task(
    name="bench_naive.post_event_to_erp",
    acks_late=True,
    autoretry_for=(httpx.HTTPError,),
    retry_backoff=True,
    max_retries=8,
)
def post_event_to_erp(event_id: int) -> str:
    """Load the event, POST it alone to ``{BENCH_ERP_URL}/messages``, mark it delivered."""
    event = NaiveEvent.objects.get(pk=event_id)
    key = idempotency_key(event)
    response = _erp().post(
        "/messages",
        json={
            "type": ERP_MESSAGE[event.type],
            "idempotency_key": key,
            "plant": event.plant,
            "correlation_id": event.correlation_id,
            "payload": event.payload,
        },
        headers={"Idempotency-Key": key},
    )
    response.raise_for_status()
    reference = response.json().get("reference") or ""
    NaiveEvent.objects.filter(pk=event_id).update(
        delivered_at=timezone.now(), erp_reference=reference
    )
    return reference
