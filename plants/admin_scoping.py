"""Plant scoping for the admin, shared by every app's ModelAdmins.

``PlantScopedAdminMixin`` limits the change list to the plants where the user holds the
model's view permission, checks change/delete against the object's plant, and offers
only the user's own plants in plant pickers: a plant admin of P1 sees and edits P1's
mappings and nothing of P2.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import models

from .auth import plant_ids_for
from .models import Plant
from .selectors import scope_queryset


def _perm(model, action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


class PlantScopedAdminMixin:
    """Mix into a ModelAdmin of a model with ``plant_lookup`` (or none: company-wide)."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return scope_queryset(qs, user=request.user, perm=_perm(self.model, "view"))

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return super().has_view_permission(request, obj)
        return request.user.has_perm(_perm(self.model, "view"), obj) or request.user.has_perm(
            _perm(self.model, "change"), obj
        )

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request, obj)
        return request.user.has_perm(_perm(self.model, "change"), obj)

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return super().has_delete_permission(request, obj)
        return request.user.has_perm(_perm(self.model, "delete"), obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Plant:
            allowed = plant_ids_for(request.user, _perm(self.model, "add")) or set()
            allowed |= plant_ids_for(request.user, _perm(self.model, "change")) or set()
            if plant_ids_for(request.user, _perm(self.model, "change")) is not None:
                kwargs["queryset"] = Plant.objects.filter(pk__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # The form may have been tampered with: check the plant of what is being saved.
        action = "change" if change else "add"
        if hasattr(obj, "scope_plant_ids") and isinstance(obj, models.Model):
            allowed = plant_ids_for(request.user, _perm(self.model, action))
            plants = obj.scope_plant_ids()
            if allowed is not None and plants and not plants <= allowed:
                raise PermissionDenied("You may not change data of that plant.")
        super().save_model(request, obj, form, change)
