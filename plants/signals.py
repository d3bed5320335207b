"""Keep the mapping cache honest: any change to a mapping table bumps its plant's generation."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from .models import MAPPING_MODELS, Membership


def _bump(sender, instance, **kwargs) -> None:
    from .services.mapping import mapping_cache

    plant_id, table = instance.plant_id, sender.table
    # After commit: another process must not reload the old rows before the change is visible.
    transaction.on_commit(lambda: mapping_cache.invalidate(plant_id, table))


for _model in MAPPING_MODELS.values():
    post_save.connect(_bump, sender=_model, dispatch_uid=f"mapping-cache-{_model.table}-save")
    post_delete.connect(_bump, sender=_model, dispatch_uid=f"mapping-cache-{_model.table}-delete")


def _forget(sender, instance, **kwargs) -> None:
    from .auth import forget_memberships

    forget_memberships(instance.user)


post_save.connect(_forget, sender=Membership, dispatch_uid="membership-forget-save")
post_delete.connect(_forget, sender=Membership, dispatch_uid="membership-forget-delete")
