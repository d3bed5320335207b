"""Configuration of the inbound transports beyond REST.

- :class:`WebhookSecret`: the signing secrets of a system's webhooks (two may be active,
  so a secret can be rotated without downtime).
- :class:`CsvLayout`: how one system's CSV files become canonical envelopes for a plant.
- :class:`SparkplugMetricMapping`: which Sparkplug B metric of which edge node becomes
  which event at a plant.

All three are plant-scoped configuration, edited in the admin like site mappings.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from jsonschema import Draft202012Validator
from simple_history.models import HistoricalRecords

WEBHOOK_SECRET_PREFIX = "whsec"  # noqa: S105 (a label, not a secret)
_SECRET_SALT = "interlock.connectors.webhook-secret"  # noqa: S105 (an HMAC domain label)


def validate_event_type(value: str) -> None:
    from orchestrator.ingest.specs import SPECS

    if value not in SPECS:
        raise ValidationError(f"{value!r} is not a canonical event type ({', '.join(SPECS)})")


def _check_json(value, schema: dict, what: str) -> None:
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: e.path)
    if errors:
        raise ValidationError(
            {
                what: [
                    f"{what}{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message}"
                    for e in errors[:10]
                ]
            }
        )


class WebhookSecretQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, system__active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class WebhookSecret(models.Model):
    """A secret a connected system signs its webhooks with (HMAC-SHA256).

    HMAC needs the secret itself on our side, so it cannot be stored as a hash like an API
    key. It is not stored at all: it is derived from ``SECRET_KEY`` and a random ``salt``
    (``salted_hmac``), so a copy of the database alone reveals no secret. It is shown once,
    when issued. Secrets derived from an old key in ``SECRET_KEY_FALLBACKS`` still verify,
    so rotating ``SECRET_KEY`` does not break webhooks at once.

    At most two secrets of a system are usable at a time: the current one and the one
    being rotated out (see ``connectors.inbound.webhook.webhook_secret_issue``).
    """

    MAX_ACTIVE = 2

    system = models.ForeignKey(
        "plants.ConnectedSystem", on_delete=models.PROTECT, related_name="webhook_secrets"
    )
    name = models.CharField(max_length=100, help_text="What it is for, e.g. 'QMS prod 2026'.")
    salt = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = WebhookSecretQuerySet.as_manager()
    plant_lookup = "system__plants"

    class Meta:
        ordering = ["system__code", "-created_at"]

    def __str__(self) -> str:
        return f"{self.system.code} · {self.name} ({WEBHOOK_SECRET_PREFIX}_{self.salt[:6]}…)"

    def scope_plant_ids(self) -> set[int]:
        return self.system.scope_plant_ids()

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None or not self.system.active:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    @staticmethod
    def new_salt() -> str:
        return secrets.token_hex(16)

    def secrets(self) -> list[bytes]:
        """The secret under ``SECRET_KEY``, then under each fallback key."""
        keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        return [
            f"{WEBHOOK_SECRET_PREFIX}_"
            f"{salted_hmac(_SECRET_SALT, self.salt, secret=key, algorithm='sha256').hexdigest()}".encode()
            for key in keys
        ]


_VALUE_SPEC = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "properties": {
                "column": {"type": "string", "minLength": 1},
                "type": {"enum": ["string", "number", "integer", "boolean"]},
                "optional": {"type": "boolean"},
            },
            "required": ["column"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"value": {}},
            "required": ["value"],
            "additionalProperties": False,
        },
    ]
}
CSV_COLUMNS_SCHEMA = {
    "type": "object",
    "properties": {
        "occurred_at": {"type": "string", "minLength": 1},
        "message_id": {"type": "string", "minLength": 1},
        "type": {"type": "string", "minLength": 1},
        "payload": {"type": "object", "additionalProperties": _VALUE_SPEC, "minProperties": 1},
    },
    "required": ["occurred_at", "payload"],
    "additionalProperties": False,
}


class CsvLayout(models.Model):
    """How one system's CSV files become canonical envelopes for one plant.

    ``columns`` maps envelope fields to CSV columns (by header name)::

        {"occurred_at": "Posted at", "message_id": "Line id",
         "payload": {"order": "Order", "operation": "Op",
                     "sequence": {"column": "Seq", "type": "integer"},
                     "qty": {"column": "Yield", "type": "number"}, "uom": "Unit",
                     "final": {"value": false}}}

    A payload entry is a column name (text), a column with a ``type`` (``number``,
    ``integer``, ``boolean``; ``optional`` leaves an empty cell out), or a constant
    ``value``. ``type`` (a column) overrides ``event_type`` per row. Codes stay plant codes:
    the pipeline maps them as for any other transport.

    A file is matched to the first active layout of its system (by ``name``) whose
    ``filename_pattern`` (a glob) matches its name.
    """

    system = models.ForeignKey(
        "plants.ConnectedSystem", on_delete=models.PROTECT, related_name="csv_layouts"
    )
    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    filename_pattern = models.CharField(
        max_length=200, default="*.csv", help_text="Glob the file name must match."
    )
    event_type = models.CharField(max_length=100, validators=[validate_event_type])
    delimiter = models.CharField(max_length=1, default=",")
    columns = models.JSONField(
        help_text='Envelope field → CSV column, e.g. {"occurred_at": "Posted at", "message_id": '
        '"Line", "payload": {"order": "Order", "qty": {"column": "Qty", "type": "number"}, '
        '"final": {"value": false}}}. README, "Inbound transports".'
    )
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    plant_lookup = "plant"

    class Meta:
        ordering = ["system__code", "name"]
        constraints = [
            models.UniqueConstraint(fields=["system", "name"], name="csvlayout_system_name")
        ]
        verbose_name = "CSV layout"

    def __str__(self) -> str:
        return f"{self.system.code} · {self.name} ({self.filename_pattern})"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}

    def clean(self) -> None:
        _check_json(self.columns, CSV_COLUMNS_SCHEMA, "columns")
        serves = self.system_id and self.system.plants.filter(pk=self.plant_id).exists()
        if self.system_id and self.plant_id and not serves:
            raise ValidationError({"plant": f"{self.system.code} does not serve this plant."})


class SparkplugTrigger(models.TextChoices):
    ANY = "any", "Every value"
    TRUE = "true", "When it becomes true"
    FALSE = "false", "When it becomes false"


PAYLOAD_TEMPLATE_SCHEMA = {"type": "object", "minProperties": 1}


class SparkplugMetricMapping(models.Model):
    """One Sparkplug B metric of an edge node (or one of its devices) that becomes a
    canonical event at a plant.

    ``payload`` is a template: the strings ``$value`` (the metric's value, typed),
    ``$timestamp`` (its time, RFC 3339), ``$device``, ``$edge_node`` and ``$metric`` are
    replaced; everything else is copied. Example, a press that stops::

        metric "Press/Running", trigger false, event machine.downtime,
        payload {"work_center": "LINE_A", "equipment": "$device",
                 "started_at": "$timestamp", "reason": "stopped"}
    """

    system = models.ForeignKey(
        "plants.ConnectedSystem", on_delete=models.PROTECT, related_name="sparkplug_mappings"
    )
    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    group_id = models.CharField(max_length=100)
    edge_node_id = models.CharField(max_length=100)
    device_id = models.CharField(
        max_length=100, blank=True, help_text="Empty: a metric of the edge node itself."
    )
    metric = models.CharField(max_length=200)
    trigger = models.CharField(
        max_length=10, choices=SparkplugTrigger.choices, default=SparkplugTrigger.ANY
    )
    event_type = models.CharField(max_length=100, validators=[validate_event_type])
    payload = models.JSONField(
        help_text='Payload template; "$value", "$timestamp", "$device", "$edge_node" and '
        '"$metric" are replaced, e.g. {"work_center": "LINE_A", "equipment": "$device", '
        '"started_at": "$timestamp"}.'
    )
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    plant_lookup = "plant"

    class Meta:
        ordering = ["group_id", "edge_node_id", "device_id", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["group_id", "edge_node_id", "device_id", "metric", "event_type"],
                name="sparkplug_metric_event",
            )
        ]
        verbose_name = "Sparkplug B metric mapping"

    def __str__(self) -> str:
        where = "/".join(p for p in (self.group_id, self.edge_node_id, self.device_id) if p)
        return f"{where}:{self.metric} → {self.event_type}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}

    def clean(self) -> None:
        _check_json(self.payload, PAYLOAD_TEMPLATE_SCHEMA, "payload")
        serves = self.system_id and self.system.plants.filter(pk=self.plant_id).exists()
        if self.system_id and self.plant_id and not serves:
            raise ValidationError({"plant": f"{self.system.code} does not serve this plant."})


TRYTON_OPERATIONS_SCHEMA = {
    "type": "array",
    "maxItems": 200,
    "items": {
        "type": "object",
        "properties": {
            "operation": {"type": "string", "minLength": 1, "maxLength": 100},
            "work_center": {"type": "string", "minLength": 1, "maxLength": 100},
            "description": {"type": "string", "maxLength": 200},
        },
        "required": ["operation", "work_center"],
        "additionalProperties": False,
    },
}


class TrytonSource(models.Model):
    """Where the Tryton poller finds a plant's released productions, and how far it got.

    The connected system (transport ``tryton``) says how to reach the database; this row
    says which of its productions belong to ``plant`` (``warehouse``: a Tryton warehouse
    code, empty for all) and what Tryton does not hold: the production module has no
    routing, so ``routing_revision`` and ``operations`` (``[{"operation": "0010",
    "work_center": "LINE_A"}]``, plant codes) are the plant's standard routing for these
    orders. ``watermark`` is the poller's position (Tryton's ``write_date``, UTC).
    """

    system = models.ForeignKey(
        "plants.ConnectedSystem", on_delete=models.PROTECT, related_name="tryton_sources"
    )
    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    warehouse = models.CharField(
        max_length=100, blank=True, help_text="Tryton warehouse code; empty: every warehouse."
    )
    routing_revision = models.CharField(max_length=100, default="1")
    operations = models.JSONField(
        default=list,
        blank=True,
        help_text='The routing of these orders in plant codes, e.g. [{"operation": "0010", '
        '"work_center": "LINE_A"}] (Tryton\'s production module has none).',
    )
    active = models.BooleanField(default=True)
    watermark = models.DateTimeField(null=True, blank=True, editable=False)
    last_polled_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    # The poller's own position changes by queryset update: history records people's edits.
    history = HistoricalRecords(excluded_fields=["watermark", "last_polled_at", "last_error"])

    plant_lookup = "plant"

    class Meta:
        ordering = ["system__code", "plant__code", "warehouse"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "plant", "warehouse"], name="trytonsource_system_plant_wh"
            )
        ]
        verbose_name = "Tryton source"

    def __str__(self) -> str:
        return f"{self.system.code} → {self.plant.code} ({self.warehouse or 'all warehouses'})"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}

    def clean(self) -> None:
        _check_json(self.operations, TRYTON_OPERATIONS_SCHEMA, "operations")
        if self.system_id and self.system.transport != "tryton":
            raise ValidationError({"system": f"{self.system.code} does not use Tryton."})
        serves = self.system_id and self.system.plants.filter(pk=self.plant_id).exists()
        if self.system_id and self.plant_id and not serves:
            raise ValidationError({"plant": f"{self.system.code} does not serve this plant."})
