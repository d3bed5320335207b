"""Finding 4 of issue 11: throttling is retried on a time budget, not the attempt count;
a configuration error is permanent and dead-letters at once with a clear reason."""

from __future__ import annotations

import pytest

from connectors.outbound.delivery import deliver_system
from orchestrator.models.outbox import DeliveryAttempt, OutboxMessage

from .conftest import drain, ledger, make_rows

pytestmark = pytest.mark.django_db


def test_throttling_longer_than_max_attempts_is_retried_and_delivered(erp, plant, receiver):
    erp.max_attempts = 3
    erp.save()
    rx = receiver.receiver
    rx.script = [(429, "0")] * 6 + [(500, None)]  # 6 throttles, then one real failure
    [row] = make_rows(erp, plant, 1)
    drain(erp)
    row.refresh_from_db()
    assert row.status == "delivered", row.last_error
    assert row.attempts == 8
    codes = list(DeliveryAttempt.objects.filter(message=row).values_list("status_code", flat=True))
    assert codes == [429] * 6 + [500, 200]
    assert set(rx.effects.values()) == {1}


def test_real_failures_still_use_up_max_attempts_between_throttles(erp, plant, receiver):
    erp.max_attempts = 3
    erp.save()
    receiver.receiver.script = [(500, None), (429, "0"), (500, None), (429, "0"), (500, None)]
    [row] = make_rows(erp, plant, 1)
    drain(erp)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("dead", 5)  # 3 failures, throttles not counted


def test_throttling_past_its_time_budget_is_dead_lettered_with_the_reason(
    erp, plant, receiver, settings
):
    settings.INTERLOCK_OUTBOX_THROTTLE_BUDGET_SECONDS = 0.5
    erp.max_attempts = 1000
    erp.save()
    receiver.receiver.script = [(429, "0")] * 10_000
    [row] = make_rows(erp, plant, 1)
    drain(erp, timeout=10)
    row.refresh_from_db()
    assert row.status == "dead"
    assert "still throttled" in row.last_error
    assert "INTERLOCK_OUTBOX_THROTTLE_BUDGET_SECONDS" in row.last_error


def test_a_system_without_base_url_dead_letters_at_once_with_a_clear_reason(erp, plant, caplog):
    erp.base_url = ""
    erp.save()
    rows = make_rows(erp, plant, 3)
    result = deliver_system(system_id=erp.pk, budget_seconds=2)
    assert result.dead == 3
    assert set(ledger(erp).values()) == {"dead"}
    for row in OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]):
        assert row.last_error.startswith("config_error: ERP-P1 has no usable base URL")
        assert row.attempts == 1
    assert DeliveryAttempt.objects.filter(outcome="permanent").count() == 3
    assert any(r.levelname == "ERROR" and "ERP-P1" in r.getMessage() for r in caplog.records)


def test_refused_credentials_dead_letter_the_whole_batch_with_one_request(erp, plant, receiver):
    rx = receiver.receiver
    rx.script = [(401, None)]
    make_rows(erp, plant, 5)
    drain(erp)
    assert set(ledger(erp).values()) == {"dead"}
    assert len(rx.requests) == 1  # not split and retried one by one: all would be refused
    reasons = set(OutboxMessage.objects.filter(system=erp).values_list("last_error", flat=True))
    assert len(reasons) == 1
    assert reasons.pop().startswith("auth_failed: HTTP 401: credential of ERP-P1 refused")
