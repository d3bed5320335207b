"""API-key authentication for connected systems.

A system sends ``Authorization: Api-Key <key>`` (or ``X-Api-Key: <key>``). The request is
then made by a :class:`SystemPrincipal`, scoped to that system and the plants it serves;
people keep using session or basic authentication.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field

from django.utils import timezone
from rest_framework import authentication, exceptions

from ..models import ApiKey, ConnectedSystem
from ..models.plant import hash_api_key

#: Don't write ``last_used_at`` more often than this per key: the hot path stays read-only.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass
class SystemPrincipal:
    """The caller when a connected system authenticates with its API key."""

    system: ConnectedSystem
    api_key: ApiKey
    system_plant_ids: frozenset[int]
    plant_codes: frozenset[str] = field(default_factory=frozenset)

    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    is_anonymous: bool = False

    @property
    def pk(self) -> None:  # not a person: nothing to attribute history rows to
        return None

    @property
    def username(self) -> str:
        return f"system:{self.system.code}"

    def __str__(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj=None) -> bool:
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def _raw_key(self, request) -> str | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == self.keyword.lower():
                return value.strip()
            return None
        return request.META.get("HTTP_X_API_KEY") or None

    def authenticate(self, request):
        raw = self._raw_key(request)
        if raw is None:
            return None
        prefix = ApiKey.parse_prefix(raw)
        key = None
        if prefix is not None:
            key = ApiKey.objects.select_related("system").filter(prefix=prefix).first()
        if key is None or not hmac.compare_digest(key.key_hash, hash_api_key(raw)):
            raise exceptions.AuthenticationFailed("Invalid API key.", code="invalid_api_key")
        if not key.is_active:
            raise exceptions.AuthenticationFailed(
                "API key is revoked, expired or its system is inactive.", code="inactive_api_key"
            )
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        plants = list(key.system.plants.values_list("pk", "code"))
        principal = SystemPrincipal(
            system=key.system,
            api_key=key,
            system_plant_ids=frozenset(pk for pk, _ in plants),
            plant_codes=frozenset(code for _, code in plants),
        )
        return principal, key

    def authenticate_header(self, request) -> str:
        return self.keyword


try:  # Document the scheme in the OpenAPI schema (drf-spectacular finds subclasses on import).
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
        target_class = "plants.api.authentication.ApiKeyAuthentication"
        name = "ApiKey"

        def get_security_definition(self, auto_schema):
            return {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Api-Key <key>`: the key issued to a connected system (shown once).",
            }
except ImportError:  # pragma: no cover - drf-spectacular is a hard dependency
    pass
