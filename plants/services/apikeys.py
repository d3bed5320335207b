"""Issuing and revoking API keys of connected systems."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from interlock.errors import DomainError

from ..models import ApiKey, ConnectedSystem
from ..permissions import require_perm


def _system_plants(system: ConnectedSystem) -> set[int] | None:
    return set(system.plants.values_list("pk", flat=True)) or None


@transaction.atomic
def api_key_issue(
    *, system: ConnectedSystem, name: str, actor=None, expires_at=None
) -> tuple[ApiKey, str]:
    """Create a key for ``system``. Returns the row and the raw key, which is never stored
    and cannot be shown again.

    A person needs ``plants.add_apikey`` at every plant the system serves (a plant admin
    issues keys for their own plant's systems); ``actor=None`` is for trusted callers.
    """
    require_perm(actor, "plants.add_apikey", plants=_system_plants(system))
    if not system.active:
        raise DomainError(message=f"system {system.code} is inactive", code="system_inactive")
    raw, prefix, key_hash = ApiKey.generate()
    key = ApiKey(
        system=system,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        created_by=actor if getattr(actor, "pk", None) else None,
        expires_at=expires_at,
    )
    key.full_clean()
    key.save()
    return key, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor=None) -> ApiKey:
    """Revoke ``key`` at once; revoking twice keeps the first revocation. A person needs
    ``plants.change_apikey`` at every plant of the key's system."""
    require_perm(actor, "plants.change_apikey", plants=_system_plants(key.system))
    updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor if getattr(actor, "pk", None) else None
    )
    key.refresh_from_db()
    if updated:
        key._change_reason = "revoked"
        key.save(update_fields=["revoked_at", "revoked_by"])  # records the change in history
    return key
