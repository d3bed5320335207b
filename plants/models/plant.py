"""Plants, the systems connected to them, and the API keys those systems use."""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from ..choices import AuthType, PlantProfile, SystemKind, Transport
from .base import code_validator


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None


class Plant(models.Model):
    """A manufacturing site. Every site mapping, parameter override and business object
    belongs to one plant, and people's permissions are scoped by it."""

    code = models.CharField(max_length=16, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    profile = models.CharField(max_length=20, choices=PlantProfile.choices)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    erp_company_code = models.CharField(max_length=32, blank=True)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    plant_lookup = "pk"

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"

    def scope_plant_ids(self) -> set[int]:
        return {self.pk}

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ConnectedSystem(models.Model):
    """An ERP, MES, QMS, WMS or supplier portal that exchanges messages with Interlock.

    Transport settings say how to reach it; credentials are never stored here, only the
    name of the environment variable (or ``*_FILE``) that holds them.
    """

    code = models.CharField(max_length=40, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=SystemKind.choices)
    plants = models.ManyToManyField(Plant, related_name="systems")
    transport = models.CharField(max_length=20, choices=Transport.choices, default=Transport.REST)
    base_url = models.URLField(blank=True, help_text="Outbound endpoint base URL (REST/webhook).")
    auth_type = models.CharField(max_length=10, choices=AuthType.choices, default=AuthType.NONE)
    credential_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the outbound credential "
        "(OAuth2: 'client_id:client_secret').",
    )
    token_url = models.URLField(
        blank=True,
        help_text="OAuth2 token endpoint (client credentials grant); only for auth type OAuth2.",
    )
    timeout_seconds = models.FloatField(default=10.0, validators=[MinValueValidator(0.1)])
    rate_limit_per_second = models.FloatField(
        default=50.0,
        validators=[MinValueValidator(0.01)],
        help_text="Outbound requests per second this system accepts.",
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=8,
        validators=[MinValueValidator(1)],
        help_text="Delivery attempts before a message goes to the dead-letter queue.",
    )
    active = models.BooleanField(default=True)
    history = HistoricalRecords(m2m_fields=[plants])

    plant_lookup = "plants"

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.get_kind_display()})"

    def scope_plant_ids(self) -> set[int]:
        return set(self.plants.values_list("pk", flat=True)) if self.pk else set()

    def clean(self) -> None:
        if self.auth_type != AuthType.NONE and not self.credential_env:
            raise ValidationError(
                {"credential_env": "Name the environment variable that holds the credential."}
            )
        if self.auth_type == AuthType.OAUTH2 and not self.token_url:
            raise ValidationError({"token_url": "OAuth2 needs the token endpoint's URL."})


API_KEY_PREFIX = "ilk"


def hash_api_key(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is as safe as a slow KDF here and
    # keeps authentication off the hot path of bulk ingest.
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, system__active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiKey(models.Model):
    """A credential of one connected system. Only the SHA-256 of the key is stored; the key
    itself is shown once, when it is issued. Scope: its system and that system's plants."""

    system = models.ForeignKey(ConnectedSystem, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What this key is for, e.g. 'MES prod'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
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
    history = HistoricalRecords(excluded_fields=["last_used_at"])

    objects = ApiKeyQuerySet.as_manager()
    plant_lookup = "system__plants"

    class Meta:
        ordering = ["system__code", "-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.system.code} · {self.name} ({API_KEY_PREFIX}_{self.prefix}…)"

    def scope_plant_ids(self) -> set[int]:
        return self.system.scope_plant_ids()

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None or not self.system.active:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Return ``(raw_key, prefix, key_hash)`` for a new key."""
        prefix = secrets.token_hex(6)
        raw = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        return raw, prefix, hash_api_key(raw)

    @staticmethod
    def parse_prefix(raw_key: str) -> str | None:
        parts = raw_key.split("_", 2)
        if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12:
            return None
        return parts[1]
