"""Connected systems and their API keys.

A raw API key exists only in the response that issues it: we render it straight into
that page (``Cache-Control: no-store``) instead of a flash message, because messages are
kept in a cookie or the session between requests, and the key must never be stored.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from interlock.errors import DomainError

from ..auth import plant_ids_for
from ..models import ApiKey, ConnectedSystem, Plant
from ..models.plant import API_KEY_PREFIX
from ..selectors import scope_queryset
from ..services.apikeys import api_key_issue, api_key_revoke
from .base import ScopedHistoryAdmin, perm_name

ADD_KEY = perm_name(ApiKey, "add")


def render_issued_keys(request, model_admin, issued: list[tuple[ApiKey, str]]) -> TemplateResponse:
    """The one and only page that shows raw keys."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "API key issued" if len(issued) == 1 else "API keys issued",
        "opts": ApiKey._meta,
        "issued": issued,
    }
    response = TemplateResponse(request, "admin/plants/apikey/issued.html", context)
    add_never_cache_headers(response)
    return response


class ApiKeyInline(admin.TabularInline):
    """Read-only list of a system's keys; keys are issued and revoked through actions."""

    model = ApiKey
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "key_prefix",
        "name",
        "created_at",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="key")
    def key_prefix(self, obj) -> str:
        return f"{API_KEY_PREFIX}_{obj.prefix}_…"


@admin.register(ConnectedSystem)
class ConnectedSystemAdmin(ScopedHistoryAdmin):
    list_display = [
        "code",
        "name",
        "kind",
        "transport",
        "plant_codes",
        "base_url",
        "active",
        "active_keys",
    ]
    list_filter = ["kind", "transport", "active", "plants"]
    search_fields = ["code", "name", "base_url"]
    filter_horizontal = ["plants"]
    # A URL typed without a scheme means HTTPS (Django 6's default; silences its warning).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [ApiKeyInline]
    actions = ["issue_api_key"]
    fieldsets = [
        (None, {"fields": ["code", "name", "kind", "plants", "active"]}),
        (
            "Transport",
            {
                "fields": [
                    "transport",
                    "base_url",
                    "auth_type",
                    "credential_env",
                    "timeout_seconds",
                    "rate_limit_per_second",
                    "max_attempts",
                ]
            },
        ),
    ]

    def has_change_permission(self, request, obj=None):
        # A system serving several plants is changed only by someone who may change it at
        # every one of them (a plant admin sees the company ERP read-only).
        if obj is None:
            return super().has_change_permission(request, obj)
        allowed = plant_ids_for(request.user, perm_name(ConnectedSystem, "change"))
        plants = obj.scope_plant_ids()
        return allowed is None or (bool(plants) and plants <= allowed)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # A plant admin connects systems of their own plant(s) only (issue 13).
        if db_field.name == "plants":
            allowed = plant_ids_for(request.user, perm_name(ConnectedSystem, "add"))
            if allowed is not None:
                kwargs["queryset"] = Plant.objects.filter(pk__in=allowed)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # The form may have been tampered with: every plant must be one of the person's.
        action = "change" if change else "add"
        allowed = plant_ids_for(request.user, perm_name(ConnectedSystem, action))
        chosen = {p.pk for p in form.cleaned_data.get("plants", [])}
        if allowed is not None and not chosen <= allowed:
            raise PermissionDenied(
                f"You lack plants.{action}_connectedsystem at every plant this system serves."
            )
        super().save_model(request, obj, form, change)

    def get_queryset(self, request):
        now = timezone.now()
        usable = Q(api_keys__revoked_at__isnull=True) & (
            Q(api_keys__expires_at__isnull=True) | Q(api_keys__expires_at__gt=now)
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related("plants")
            .annotate(_active_keys=Count("api_keys", filter=usable, distinct=True))
        )

    @admin.display(description="plants")
    def plant_codes(self, obj) -> str:
        return ", ".join(p.code for p in obj.plants.all())

    @admin.display(description="active keys", ordering="_active_keys")
    def active_keys(self, obj) -> int:
        return obj._active_keys

    def has_issue_key_permission(self, request) -> bool:
        return request.user.has_perm(ADD_KEY)

    @admin.action(description="Issue API key (shown once)", permissions=["issue_key"])
    def issue_api_key(self, request, queryset):
        issued = []
        for system in queryset:
            if not request.user.has_perm(ADD_KEY, system):
                raise PermissionDenied(f"You may not issue keys for {system.code}.")
            try:
                issued.append(
                    api_key_issue(
                        system=system,
                        actor=request.user,
                        name=f"issued in admin by {request.user.get_username()}",
                    )
                )
            except DomainError as exc:
                self.message_user(request, f"{system.code}: {exc.message}", messages.ERROR)
        if not issued:
            return None
        return render_issued_keys(request, self, issued)


class ApiKeyIssueForm(forms.Form):
    system = forms.ModelChoiceField(queryset=ConnectedSystem.objects.none())
    name = forms.CharField(max_length=100, help_text="What this key is for, e.g. 'MES prod'.")
    expires_at = forms.DateTimeField(
        required=False, help_text="Optional, e.g. 2027-01-31 00:00. Empty: does not expire."
    )

    def __init__(self, *args, systems, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = systems


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(ScopedHistoryAdmin):
    """Only the SHA-256 of a key is stored; the add page issues a key through the service
    and shows it once."""

    list_display = [
        "key_prefix",
        "system",
        "name",
        "created_at",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "active",
    ]
    list_filter = [KeyStateFilter, "system"]
    search_fields = ["prefix", "name", "system__code"]
    list_select_related = ["system", "created_by"]
    actions = ["revoke"]
    fields = [
        "system",
        "name",
        "key_prefix",
        "created_at",
        "created_by",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = [
        "system",
        "key_prefix",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]

    @admin.display(description="key")
    def key_prefix(self, obj) -> str:
        return f"{API_KEY_PREFIX}_{obj.prefix}_…"

    @admin.display(description="active", boolean=True)
    def active(self, obj) -> bool:
        return obj.is_active

    def has_delete_permission(self, request, obj=None):
        # Keys are revoked, never deleted: the audit trail must still name them.
        return False

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for key in queryset.select_related("system"):
            if not request.user.has_perm(perm_name(ApiKey, "change"), key):
                raise PermissionDenied(f"You may not revoke keys of {key.system.code}.")
            if key.revoked_at is None:
                api_key_revoke(key=key, actor=request.user)
                revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        systems = scope_queryset(
            ConnectedSystem.objects.filter(active=True), user=request.user, perm=ADD_KEY
        )
        initial = {"system": request.GET.get("system")} if request.GET.get("system") else None
        form = ApiKeyIssueForm(request.POST or None, systems=systems, initial=initial)
        if request.method == "POST" and form.is_valid():
            system = form.cleaned_data["system"]
            if not request.user.has_perm(ADD_KEY, system):
                raise PermissionDenied
            try:
                issued = api_key_issue(
                    system=system,
                    name=form.cleaned_data["name"],
                    actor=request.user,
                    expires_at=form.cleaned_data["expires_at"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                return render_issued_keys(request, self, [issued])
        context = {
            **self.admin_site.each_context(request),
            "title": "Issue API key",
            "opts": self.model._meta,
            "form": form,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/plants/apikey/issue.html", context)
