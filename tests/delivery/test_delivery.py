"""Delivery against a real HTTP receiver, each test keeping a three-way ledger: what
Interlock accepted (outbox rows written), what the database says (status, attempts), and
what the receiver applied (effects per idempotency key)."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from django.utils import timezone

from connectors.models import CircuitBreaker
from connectors.outbound.delivery import deliver_system
from orchestrator.models import AuditRecord
from orchestrator.models.outbox import DeliveryAttempt, OutboxMessage, OutboxStatus
from orchestrator.services.replay import outbox_replay
from plants.choices import Role
from tests.factories import PlantFactory, make_member

from .conftest import drain, ledger, make_rows

pytestmark = pytest.mark.django_db


def _assert_exactly_once(receiver, rows):
    keys = {r.idempotency_key for r in rows}
    assert receiver.applied() == keys
    assert set(receiver.effects.values()) == {1}


def test_rows_travel_in_batches_with_references_and_one_effect_each(erp, plant, receiver):
    rows = make_rows(erp, plant, 250)
    drain(erp)
    rx = receiver.receiver
    assert [len(r.keys) for r in rx.requests] == [100, 100, 50]
    assert all(r.path == "/messages/batch" for r in rx.requests)
    assert set(ledger(erp).values()) == {"delivered"}
    _assert_exactly_once(rx, rows)
    row = OutboxMessage.objects.get(idempotency_key="K-0007")
    assert row.reference == rx.references["K-0007"]
    assert row.attempts == 1
    attempt = DeliveryAttempt.objects.get(message=row)
    assert (attempt.outcome, attempt.status_code, attempt.number) == ("delivered", 200, 1)
    # One attempt row per message, written set-wise: each request's rows share its batch id,
    # the system and the time it started; the time is before the row was delivered.
    attempts = DeliveryAttempt.objects.filter(message__in=rows)
    assert attempts.count() == 250
    assert attempts.values("batch").distinct().count() == 3
    assert set(attempts.values_list("system_id", "error", "number")) == {(erp.pk, "", 1)}
    assert attempt.batch is not None
    assert attempt.attempted_at <= row.delivered_at
    assert attempt.duration_ms >= 0


def test_backoff_grows_between_attempts_and_retry_after_is_honoured(erp, plant, receiver):
    rx = receiver.receiver
    # three 500s (backoff), then a 429 that asks for a full second, then success
    rx.script = [(500, None), (500, None), (500, None), (429, "1")]
    [row] = make_rows(erp, plant, 1)
    drain(erp)
    times = rx.times_for(row.idempotency_key)
    assert len(times) == 5
    gaps = [b - a for a, b in itertools.pairwise(times)]
    base = 0.05
    # equal jitter: the n-th delay lies in [base·2^(n-1)/2, base·2^(n-1)]
    for n, gap in enumerate(gaps[:3], start=1):
        assert gap >= base * 2 ** (n - 1) / 2 * 0.9
    assert gaps[2] > gaps[0]
    assert gaps[3] >= 1.0  # Retry-After: 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("delivered", 5)
    outcomes = list(
        DeliveryAttempt.objects.filter(message=row).values_list("outcome", "status_code")
    )
    assert outcomes == [("transient", 500)] * 3 + [("transient", 429), ("delivered", 200)]
    _assert_exactly_once(rx, [row])


def test_rate_limit_is_held_at_the_receiver(erp, plant, receiver, settings):
    settings.INTERLOCK_OUTBOX_BATCH_SIZE = 1  # one request per message: 24 requests
    erp.rate_limit_per_second = 8
    erp.save()
    rows = make_rows(erp, plant, 24)
    # two workers at once share the system's bucket
    workers = [
        threading.Thread(target=deliver_system, kwargs={"system_id": erp.pk, "budget_seconds": 10})
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    drain(erp)
    rx = receiver.receiver
    times = sorted(r.at for r in rx.requests)
    assert len(times) == 24
    # in any one-second window: at most rate + the bucket's single token of burst
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t < start + 1.0)
        assert in_window <= 8 + 1
    assert times[-1] - times[0] >= (24 - 1 - 1) / 8 * 0.95
    _assert_exactly_once(rx, rows)


def test_the_receiver_gets_its_whole_rate_limit(erp, plant, receiver, settings):
    """A request costs one token, and a round with nothing to retry spends none: the rate
    limit is what the receiver gets (each round's empty retry pass used to take a token
    too, so a system limited to 8 requests/s got 4)."""
    settings.INTERLOCK_OUTBOX_BATCH_SIZE = 1  # one request per message
    erp.rate_limit_per_second = 8
    erp.save()
    rows = make_rows(erp, plant, 17)
    started = time.monotonic()
    deliver_system(system_id=erp.pk, budget_seconds=10)
    elapsed = time.monotonic() - started
    times = sorted(r.at for r in receiver.receiver.requests)
    assert len(times) == 17
    # 16 intervals at 8/s (the first token is there at once): about 2 s, not 4.
    assert times[-1] - times[0] < 16 / 8 * 1.4
    assert elapsed < 16 / 8 * 1.4 + 1
    _assert_exactly_once(receiver.receiver, rows)


def test_a_permanent_4xx_dead_letters_at_once(erp, plant, receiver):
    rx = receiver.receiver
    rx.script = [(422, None)]
    [row] = make_rows(erp, plant, 1)
    drain(erp)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("dead", 1)
    assert "HTTP 422" in row.last_error
    assert rx.applied() == set()
    assert DeliveryAttempt.objects.get(message=row).outcome == "permanent"


def test_a_rejected_message_in_a_batch_is_dead_and_the_others_delivered(erp, plant, receiver):
    rx = receiver.receiver
    rows = make_rows(erp, plant, 10)
    rx.reject = {"K-0003"}
    drain(erp)
    states = ledger(erp)
    assert states.pop("K-0003") == "dead"
    assert set(states.values()) == {"delivered"}
    assert len(rx.requests) == 1
    _assert_exactly_once(rx, [r for r in rows if r.idempotency_key != "K-0003"])
    assert (
        "material master missing" in OutboxMessage.objects.get(idempotency_key="K-0003").last_error
    )


def test_transient_errors_until_max_attempts_dead_letter_and_replay_gives_one_effect(
    erp, plant, receiver, api_client
):
    rx = receiver.receiver
    erp.max_attempts = 4
    erp.save()
    rx.down = True
    [row] = make_rows(erp, plant, 1)
    drain(erp)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("dead", 4)
    assert DeliveryAttempt.objects.filter(message=row, outcome="transient").count() == 4
    assert rx.applied() == set()

    # an auditor, and an operator of another plant, may not replay it
    auditor = make_member(Role.AUDITOR, plant, username="aud")
    other = make_member(Role.OPERATOR, PlantFactory(code="P2"), username="op2")
    for user in (auditor, other):
        api_client.force_authenticate(user)
        assert api_client.post(f"/api/v1/outbox/{row.pk}/replay").status_code in (403, 404)

    rx.down = False
    operator = make_member(Role.OPERATOR, plant, username="op1")
    api_client.force_authenticate(operator)
    answer = api_client.post(f"/api/v1/outbox/{row.pk}/replay")
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "pending"
    drain(erp)
    row.refresh_from_db()
    assert row.status == "delivered"
    _assert_exactly_once(rx, [row])
    record = AuditRecord.objects.get(object_id=str(row.pk), transition="replay")
    assert (record.actor, record.source_state, record.target_state) == (operator, "dead", "pending")
    assert record.correlation_id == row.correlation_id
    # every attempt kept: four failures, then the one that arrived
    assert DeliveryAttempt.objects.filter(message=row).count() == 5
    # a second replay of a delivered row is refused
    assert api_client.post(f"/api/v1/outbox/{row.pk}/replay").status_code == 409
    # replaying what did arrive (dead by a lost answer) has no second effect
    OutboxMessage.objects.filter(pk=row.pk).update(status=OutboxStatus.DEAD)
    outbox_replay(message=row, actor=operator)
    drain(erp)
    assert rx.effects[row.idempotency_key] == 1
    assert rx.duplicates == 1


def test_a_poison_message_does_not_block_the_queue(erp, plant, receiver):
    rx = receiver.receiver
    erp.max_attempts = 3
    erp.save()
    rows = make_rows(erp, plant, 30)
    rx.poison = {"K-0010"}  # any request holding it fails with 500
    drain(erp)
    states = ledger(erp)
    assert states.pop("K-0010") == "dead"
    assert set(states.values()) == {"delivered"}
    _assert_exactly_once(rx, [r for r in rows if r.idempotency_key != "K-0010"])


def test_thirty_percent_failures_end_with_every_row_delivered_once_in_effect(erp, plant, receiver):
    rx = receiver.receiver
    rx.fail_rate = 0.3
    rx.timeout_sleep = 0.8  # longer than the system's 0.5 s timeout
    erp.max_attempts = 30
    erp.save()
    rows = make_rows(erp, plant, 300)
    drain(erp, timeout=25)
    assert set(ledger(erp).values()) == {"delivered"}
    _assert_exactly_once(rx, rows)
    statuses = {r.status for r in rx.requests}
    assert {500, 429} <= statuses
    assert DeliveryAttempt.objects.filter(outcome="transient").exists()
    # a timed-out request had been applied: its repeat came back "duplicate"
    assert rx.duplicates > 0 or not any(
        a.error.startswith("timeout") for a in DeliveryAttempt.objects.all()
    )


def test_the_circuit_opens_after_consecutive_failures_and_recovers(erp, plant, receiver, settings):
    settings.INTERLOCK_CIRCUIT_THRESHOLD = 3
    settings.INTERLOCK_CIRCUIT_COOLDOWN_SECONDS = 0.5
    settings.INTERLOCK_OUTBOX_BACKOFF_SECONDS = 0.01
    rx = receiver.receiver
    rx.down = True
    erp.max_attempts = 50
    erp.save()
    rows = make_rows(erp, plant, 5)
    # Wake delivery until the breaker opens (a loaded CI machine may need more than one
    # task budget for three failures); the assertions below are about what happens then.
    deadline = time.monotonic() + 30
    result = deliver_system(system_id=erp.pk, budget_seconds=3)
    while CircuitBreaker.objects.get(system=erp).state != "open" and time.monotonic() < deadline:
        result = deliver_system(system_id=erp.pk, budget_seconds=3)
    breaker = CircuitBreaker.objects.get(system=erp)
    assert breaker.state == "open"
    assert breaker.consecutive_failures == 3
    assert result.circuit_open_until is not None
    sent = len(rx.requests)
    assert sent == 3
    # while open nothing is sent, however often delivery is woken
    deliver_system(system_id=erp.pk, budget_seconds=1)
    assert len(rx.requests) == sent
    # cool-down over, receiver still down: one probe, and open again
    breaker.retry_at = timezone.now()
    breaker.save()
    deliver_system(system_id=erp.pk, budget_seconds=1)
    assert len(rx.requests) == sent + 1
    breaker.refresh_from_db()
    assert breaker.state == "open"
    # receiver back: the next probe closes the circuit and everything flows
    rx.down = False
    drain(erp)
    breaker.refresh_from_db()
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 0)
    assert set(ledger(erp).values()) == {"delivered"}
    _assert_exactly_once(rx, rows)


def test_bearer_token_and_idempotency_header_travel_with_each_request(
    erp, plant, receiver, monkeypatch
):
    seen = {}
    import tests.delivery.receiver as mod

    original = mod._Handler.do_POST

    def do_post(self):
        seen["auth"] = self.headers.get("Authorization")
        seen["key"] = self.headers.get("Idempotency-Key")
        original(self)

    monkeypatch.setattr(mod._Handler, "do_POST", do_post)
    monkeypatch.setenv("ERP_P1_TOKEN", "s3cret")
    erp.auth_type = "bearer"
    erp.credential_env = "ERP_P1_TOKEN"
    erp.save()
    [row] = make_rows(erp, plant, 1)
    drain(erp)
    assert seen == {"auth": "Bearer s3cret", "key": row.idempotency_key}


def test_a_missing_credential_is_a_permanent_error(erp, plant, receiver, monkeypatch):
    monkeypatch.delenv("ERP_P1_TOKEN", raising=False)
    erp.auth_type = "bearer"
    erp.credential_env = "ERP_P1_TOKEN"
    erp.save()
    [row] = make_rows(erp, plant, 1)
    drain(erp)
    row.refresh_from_db()
    assert row.status == "dead"
    assert "credential_missing" in row.last_error
    assert receiver.receiver.requests == []


def test_a_2xx_with_the_wrong_shape_is_a_transient_bad_response(erp, plant, receiver):
    rx = receiver.receiver
    real = rx.handle
    calls = []

    def handle(path, body):
        calls.append(path)
        if len(calls) == 1:
            return 200, {"ok": True}, {}, 0.0
        return real(path, body)

    rx.handle = handle
    rows = make_rows(erp, plant, 3)
    drain(erp)
    first = DeliveryAttempt.objects.filter(message=rows[0]).order_by("number").first()
    assert first.outcome == "transient"
    assert first.error.startswith("bad_response")
    assert set(ledger(erp).values()) == {"delivered"}
    _assert_exactly_once(rx, rows)
