"""API-key authentication for connected systems.

A system sends ``Authorization: Api-Key <key>`` (or ``X-Api-Key: <key>``). The request is
then made by a :class:`SystemPrincipal`, scoped to that system and the plants it serves;
people keep using session or basic authentication.

Systems post thousands of requests a second, so each process remembers a *successful*
authentication for ``INTERLOCK_API_KEY_CACHE_SECONDS`` (default 5 s): the key's row, its
system and plants are read once per key and interval instead of on every request. A
revocation, a deactivated system or a change of its plants therefore takes effect within
those seconds in every process, and at once in the process that made the change (saving a
key or system, or changing a system's plants, clears the cache through signals). Expiry is
checked against the clock on every request. Unknown or refused keys are never cached.
"""

from __future__ import annotations

import datetime as dt
import hmac
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from rest_framework import authentication, exceptions

from interlock.logging import bind as log_bind

from ..models import ApiKey, ConnectedSystem, Plant
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
    #: The system's plants by code (read with the key, so ingest needs no query for them).
    plants: dict[str, Plant] = field(default_factory=dict)

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


#: key hash → (monotonic time it was read, principal)
_principals: dict[str, tuple[float, SystemPrincipal]] = {}


def forget_api_keys(**_kwargs) -> None:
    """Drop every remembered authentication of this process (other processes: TTL)."""
    _principals.clear()


for _signal, _sender in (
    (post_save, ApiKey),
    (post_delete, ApiKey),
    (post_save, ConnectedSystem),
    (post_delete, ConnectedSystem),
    (m2m_changed, ConnectedSystem.plants.through),
):
    _signal.connect(
        forget_api_keys, sender=_sender, dispatch_uid=f"api-key-cache-{_signal}-{_sender}"
    )


def _cache_seconds() -> float:
    return getattr(settings, "INTERLOCK_API_KEY_CACHE_SECONDS", 5.0)


def _load_principal(raw: str, digest: str) -> SystemPrincipal:
    prefix = ApiKey.parse_prefix(raw)
    key = None
    if prefix is not None:
        key = ApiKey.objects.select_related("system").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        raise exceptions.AuthenticationFailed("Invalid API key.", code="invalid_api_key")
    if not key.is_active:
        raise exceptions.AuthenticationFailed(
            "API key is revoked, expired or its system is inactive.", code="inactive_api_key"
        )
    plants = list(key.system.plants.all())
    return SystemPrincipal(
        system=key.system,
        api_key=key,
        system_plant_ids=frozenset(p.pk for p in plants),
        plant_codes=frozenset(p.code for p in plants),
        plants={p.code: p for p in plants},
    )


def principal_for_key(raw: str) -> SystemPrincipal:
    """The principal of API key ``raw`` (remembered per process, see the module docstring);
    raises ``AuthenticationFailed`` for an unknown, revoked or expired key."""
    digest = hash_api_key(raw)
    clock = time.monotonic()
    cached = _principals.get(digest)
    if cached is not None and clock - cached[0] < _cache_seconds():
        principal = cached[1]
    else:
        principal = _load_principal(raw, digest)
        _principals[digest] = (clock, principal)
    key = principal.api_key
    if not key.is_active:  # expiry by the clock, also for a remembered key
        _principals.pop(digest, None)
        raise exceptions.AuthenticationFailed(
            "API key is revoked, expired or its system is inactive.", code="inactive_api_key"
        )
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return principal


def remembered_principal(raw: str) -> SystemPrincipal | None:
    """The principal of ``raw`` if this process remembers it and using it needs no query
    (fresh, active, ``last_used_at`` recent); else None: authenticate the full way. For
    the lean ASGI ingest path, which must not touch the database on its event loop."""
    cached = _principals.get(hash_api_key(raw))
    if cached is None or time.monotonic() - cached[0] >= _cache_seconds():
        return None
    key = cached[1].api_key
    if not key.is_active or key.last_used_at is None:
        return None
    if timezone.now() - key.last_used_at > LAST_USED_RESOLUTION:
        return None
    return cached[1]


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
        principal = principal_for_key(raw)
        # Every line logged for the rest of the request names the system (and its plant
        # when it serves only one); the request middleware drops them afterwards.
        codes = principal.plant_codes
        log_bind(system=principal.system.code, plant=next(iter(codes)) if len(codes) == 1 else None)
        return principal, principal.api_key

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
