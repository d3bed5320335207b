"""Building blocks shared by the plants ModelAdmins."""

from __future__ import annotations

from simple_history.admin import SimpleHistoryAdmin

from ..admin_scoping import PlantScopedAdminMixin
from ..auth import plant_ids_for
from ..models import Plant
from ..selectors import scope_queryset


def perm_name(model, action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


class ScopedHistoryAdmin(PlantScopedAdminMixin, SimpleHistoryAdmin):
    """A configuration model's admin: plant-scoped rows, read-only history page."""

    list_per_page = 100


class ParentScopedInlineMixin:
    """Inline whose rights follow the *parent* object (the plant or the parameter).

    Django asks inlines ``has_*_permission(request, obj)`` with the parent as ``obj``; we
    check the inline model's permission against the parent's plant, and also that the
    parent itself is editable, because the parent's form is what gets posted: a plant
    admin may edit P1's release windows, but not the Plant record that carries them, so
    on the Plant page they see them read-only and edit them in their own admin.
    """

    def _allowed(self, request, action: str, obj) -> bool:
        perm = perm_name(self.model, action)
        if obj is None:
            return request.user.has_perm(perm)
        parent_editable = request.user.has_perm(perm_name(self.parent_model, "change"), obj)
        return parent_editable and request.user.has_perm(perm, obj)

    def has_add_permission(self, request, obj=None):
        return self._allowed(request, "add", obj)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, "delete", obj)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(perm_name(self.model, "view")) or self.has_change_permission(
            request, obj
        )

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return scope_queryset(qs, user=request.user, perm=perm_name(self.model, "view"))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Plant:
            allowed = plant_ids_for(request.user, perm_name(self.model, "change"))
            if allowed is not None:
                kwargs["queryset"] = Plant.objects.filter(pk__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
