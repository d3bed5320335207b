"""Role memberships: who holds which role at which plant."""

from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from ..models import Membership


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    """Granting roles is for superusers and people given ``plants.*_membership`` directly
    (Django permissions, not a role: no role grants membership rights, see
    ``plants.roles``). Deliberately *not* plant-scoped: the scoping mixin reads role
    memberships, which such people need not have, and would show them an empty list."""

    list_display = ["user", "role", "plant", "granted_at"]
    list_filter = ["role", "plant"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]
    autocomplete_fields = ["user"]
    list_select_related = ["user", "plant"]
    readonly_fields = ["granted_at"]
