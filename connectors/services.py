"""Services of the connectors app that change configuration: webhook secrets (CSV layouts,
Sparkplug B mappings and Tryton sources go through ``plants.services.config``, like every
plant-scoped configuration row). The admin and the API call the same functions; the actor
needs the permission at every plant the system serves."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from interlock.errors import Conflict, DomainError, ErrorDetail
from plants.models import ConnectedSystem
from plants.permissions import require_perm

from .models import WebhookSecret


@transaction.atomic
def webhook_secret_issue(
    *, system: ConnectedSystem, name: str, actor=None, expires_at=None
) -> tuple[WebhookSecret, str]:
    """Issue a signing secret for ``system``'s webhooks. Returns the row and the secret,
    which is shown once. Refused while two secrets are usable: rotation is issue the new
    one, switch the sender over, revoke the old one."""
    require_perm(
        actor,
        "connectors.add_webhooksecret",
        plants=set(system.plants.values_list("pk", flat=True)) or None,
    )
    if not system.active:
        raise DomainError(message=f"system {system.code} is inactive", code="system_inactive")
    # Lock the system row so two concurrent issues cannot both see one active secret.
    ConnectedSystem.objects.select_for_update().filter(pk=system.pk).first()
    active = WebhookSecret.objects.usable().filter(system=system).count()
    if active >= WebhookSecret.MAX_ACTIVE:
        raise Conflict(
            f"{system.code} already has {active} active webhook secrets; revoke the old one "
            "before issuing another",
            code="too_many_webhook_secrets",
            details=[
                ErrorDetail(
                    path="system",
                    code="too_many_webhook_secrets",
                    message="revoke a secret first",
                    expected=WebhookSecret.MAX_ACTIVE - 1,
                    found=active,
                )
            ],
        )
    secret = WebhookSecret(
        system=system,
        name=name,
        salt=WebhookSecret.new_salt(),
        created_by=actor if getattr(actor, "pk", None) else None,
        expires_at=expires_at,
    )
    secret.full_clean()
    secret.save()
    return secret, secret.secrets()[0].decode()


@transaction.atomic
def webhook_secret_revoke(*, secret: WebhookSecret, actor=None) -> WebhookSecret:
    """Revoke ``secret`` at once; revoking twice keeps the first revocation."""
    require_perm(
        actor,
        "connectors.change_webhooksecret",
        plants=set(secret.system.plants.values_list("pk", flat=True)) or None,
    )
    WebhookSecret.objects.filter(pk=secret.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor if getattr(actor, "pk", None) else None
    )
    secret.refresh_from_db()
    return secret
