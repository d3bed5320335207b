"""Connector-side state: the circuit breaker of each outbound system.

Kept in the database (not Redis) so every worker sees the same breaker, the admin can show
it, and it survives a broker restart; it is written once per request, not per message.
"""

from __future__ import annotations

from django.db import models


class CircuitState(models.TextChoices):
    CLOSED = "closed", "Closed (delivering)"
    OPEN = "open", "Open (not sending until the cool-down ends)"
    HALF_OPEN = "half_open", "Half-open (one probe in flight)"


class CircuitBreaker(models.Model):
    """The breaker of one connected system: opens after ``consecutive_failures`` reaches
    the threshold (transient failures only), lets one probe through after ``retry_at``,
    and closes on the probe's success."""

    system = models.OneToOneField(
        "plants.ConnectedSystem", on_delete=models.CASCADE, related_name="circuit_breaker"
    )
    state = models.CharField(
        max_length=10, choices=CircuitState.choices, default=CircuitState.CLOSED
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    plant_lookup = "system__plants"

    class Meta:
        ordering = ["system__code"]

    def __str__(self) -> str:
        return f"{self.system.code}: {self.state}"

    def scope_plant_ids(self) -> set[int]:
        return self.system.scope_plant_ids()
