"""Per-system circuit breaker, shared by all workers through its database row.

closed ──N transient failures in a row──▶ open ──cool-down over──▶ half-open (one probe)
  ▲                                                                     │
  └──────────────────────── probe succeeded ◀───────────────────────────┘ (fails: open)

Only transient failures of whole requests count (a permanent 4xx or a rejected message
says nothing about the system's health). Moving open → half-open is a conditional UPDATE
that exactly one worker wins, so exactly one probe goes out per cool-down.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from connectors.models import CircuitBreaker, CircuitState

from . import conf


@dataclass(frozen=True)
class Permit:
    allowed: bool
    probe: bool = False
    retry_at: dt.datetime | None = None


def breaker_for(system) -> CircuitBreaker:
    breaker, _ = CircuitBreaker.objects.get_or_create(system=system)
    return breaker


def allow(system) -> Permit:
    """May a request go to ``system`` now? ``probe`` when it is the half-open probe."""
    breaker = breaker_for(system)
    if breaker.state == CircuitState.CLOSED:
        return Permit(True)
    now = timezone.now()
    cooldown = dt.timedelta(seconds=conf.get("INTERLOCK_CIRCUIT_COOLDOWN_SECONDS"))
    # An open breaker whose cool-down is over, or a half-open one whose probe never
    # reported back (its worker died): one worker takes the probe.
    won = (
        CircuitBreaker.objects.filter(pk=breaker.pk)
        .filter(
            Q(state=CircuitState.OPEN, retry_at__lte=now)
            | Q(state=CircuitState.HALF_OPEN, updated_at__lte=now - cooldown)
        )
        .update(state=CircuitState.HALF_OPEN, updated_at=now)
    )
    if won == 1:
        return Permit(True, probe=True)
    breaker.refresh_from_db()
    if breaker.state == CircuitState.CLOSED:
        return Permit(True)
    retry_at = breaker.retry_at if breaker.state == CircuitState.OPEN else now + cooldown
    return Permit(False, retry_at=retry_at)


def record_success(system) -> None:
    CircuitBreaker.objects.filter(system=system).filter(
        ~Q(state=CircuitState.CLOSED) | Q(consecutive_failures__gt=0)
    ).update(state=CircuitState.CLOSED, consecutive_failures=0, retry_at=None, last_error="")


def record_failure(system, error: str) -> CircuitBreaker:
    """Count a transient failure; open the breaker at the threshold (or a failed probe)."""
    now = timezone.now()
    threshold = conf.get("INTERLOCK_CIRCUIT_THRESHOLD")
    cooldown = dt.timedelta(seconds=conf.get("INTERLOCK_CIRCUIT_COOLDOWN_SECONDS"))
    breaker_for(system)
    with transaction.atomic():
        breaker = CircuitBreaker.objects.select_for_update().get(system=system)
        breaker.consecutive_failures = F("consecutive_failures") + 1
        breaker.last_error = error[:2000]
        breaker.save(update_fields=["consecutive_failures", "last_error", "updated_at"])
        breaker.refresh_from_db()
        if breaker.state == CircuitState.HALF_OPEN or (
            breaker.state == CircuitState.CLOSED and breaker.consecutive_failures >= threshold
        ):
            breaker.state = CircuitState.OPEN
            breaker.opened_at = now
            breaker.retry_at = now + cooldown
            breaker.save(update_fields=["state", "opened_at", "retry_at", "updated_at"])
    return breaker
