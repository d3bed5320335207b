"""Plant scoping for API views, shared by every app's read endpoints.

A view lists ``queryset`` and sets nothing else: rows are limited to the plants where the
caller (a person through memberships, or a connected system through its API key) holds
the model's view permission. Asking explicitly for another plant (``?plant=P2``) is a 403
rather than a silently empty page, so a misconfigured client notices.
"""

from __future__ import annotations

from rest_framework import permissions, viewsets
from rest_framework.exceptions import PermissionDenied

from ..auth import plant_ids_for
from ..models import Plant
from ..permissions import roles_held
from ..selectors import scope_queryset


def view_perm(model) -> str:
    return f"{model._meta.app_label}.view_{model._meta.model_name}"


class CanViewModel(permissions.BasePermission):
    """People need the model's view permission somewhere; connected systems may read the
    resources a view opts into with ``system_readable = True``."""

    message = "You have no role that may read this resource."

    def has_permission(self, request, view) -> bool:
        user = request.user
        model = view.get_queryset().model
        if getattr(user, "system_plant_ids", None) is not None:
            self.message = f"connected systems may not read {model._meta.verbose_name_plural}"
            return getattr(view, "system_readable", False)
        perm = view_perm(model)
        if user and user.is_authenticated and not user.has_perm(perm):
            self.message = f"{user.get_username()} lacks {perm} (roles: {roles_held(user)})"
            return False
        return bool(user and user.is_authenticated)


class PlantScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    """List/retrieve limited to the caller's plants (see module docstring)."""

    permission_classes = [permissions.IsAuthenticated & CanViewModel]
    system_readable = True
    #: Query parameter holding a plant code, checked against the caller's scope.
    plant_query_param = "plant"

    def get_queryset(self):
        qs = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular schema generation
            return qs
        return scope_queryset(qs, user=self.request.user, perm=view_perm(qs.model))

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        code = request.query_params.get(self.plant_query_param)
        if code:
            allowed = plant_ids_for(request.user, view_perm(self.queryset.model))
            if allowed is not None:
                plant = Plant.objects.filter(code=code).values_list("pk", flat=True).first()
                if plant not in allowed:
                    raise PermissionDenied(f"You may not read data of plant {code}.")
