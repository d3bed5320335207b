"""Delivery tunables: Django settings first, then the environment (typed, failing loudly),
then the defaults below. Worker subprocesses inherit the environment, which is how tests
shorten backoffs without a settings module of their own."""

from __future__ import annotations

from django.conf import settings

from interlock.env import env_float, env_int

DEFAULTS: dict[str, float | int] = {
    # Messages per batch request (the receiver's limit, contract: up to 100).
    "INTERLOCK_OUTBOX_BATCH_SIZE": 100,
    # First retry delay; doubles per attempt (equal jitter), capped below the broker's
    # visibility timeout so a countdown task is never redelivered while it waits.
    "INTERLOCK_OUTBOX_BACKOFF_SECONDS": 2.0,
    "INTERLOCK_OUTBOX_BACKOFF_MAX_SECONDS": 600.0,
    # Transient failures in a row that open a system's circuit, and its cool-down.
    "INTERLOCK_CIRCUIT_THRESHOLD": 5,
    "INTERLOCK_CIRCUIT_COOLDOWN_SECONDS": 30.0,
    # How long one delivery task keeps claiming before it hands over to a fresh task.
    "INTERLOCK_OUTBOX_TASK_BUDGET_SECONDS": 60.0,
    # How long after it was written a message is still retried while the receiver throttles
    # (429): throttling is the receiver pacing us, so it does not use up attempts; a
    # receiver that throttles for hours has an outage a person must look at.
    "INTERLOCK_OUTBOX_THROTTLE_BUDGET_SECONDS": 6 * 3600.0,
    # How long after it was written a message the receiver holds behind its own gate (an
    # ERP's pending quality inspection) is still retried; then it is dead-lettered for a
    # person. Inspections can take days.
    "INTERLOCK_OUTBOX_GATE_BUDGET_SECONDS": 7 * 86400.0,
    # Rows in flight whose lease ran out are claimed again (their worker died).
    "INTERLOCK_OUTBOX_LEASE_MARGIN_SECONDS": 10.0,
}


def get(name: str):
    default = DEFAULTS[name]
    if hasattr(settings, name):
        return type(default)(getattr(settings, name))
    if isinstance(default, int):
        return env_int(name, default, minimum=1)
    return env_float(name, default, minimum=0)
