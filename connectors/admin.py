"""Admin of the inbound transports' configuration: webhook secrets (issued and revoked
through services, shown once), CSV layouts, Sparkplug B metric mappings and Tryton
sources (plant-scoped, like site mappings, saved and deleted through
``plants.services.config`` with the logged-in person as the actor, as the API does)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from interlock.errors import DomainError
from plants.admin_scoping import PlantScopedAdminMixin
from plants.services.config import config_create, config_delete, config_update

from .models import CsvLayout, SparkplugMetricMapping, TrytonSource, WebhookSecret
from .services import webhook_secret_issue, webhook_secret_revoke


@admin.register(WebhookSecret)
class WebhookSecretAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    """Issue with *Add* (the secret is shown once, on the next page); revoke with the
    action. Secrets are never edited or deleted: their history is who used what."""

    list_display = ["system", "name", "created_at", "created_by", "last_used_at", "expires_at",
                    "revoked_at"]  # fmt: skip
    list_filter = ["system"]
    fields = ["system", "name", "expires_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return ["system", "name", "expires_at", "revoked_at", "revoked_by"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            secret, raw = webhook_secret_issue(
                system=obj.system, name=obj.name, actor=request.user, expires_at=obj.expires_at
            )
        except DomainError as exc:
            request._webhook_error = exc.message
            return
        obj.pk = secret.pk
        request._webhook_issued = (secret, raw)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_webhook_error", None):
            self.message_user(request, request._webhook_error, messages.ERROR)
            return super().response_post_save_add(request, obj)
        secret, raw = request._webhook_issued
        context = {
            **self.admin_site.each_context(request),
            "title": "Webhook secret issued",
            "opts": WebhookSecret._meta,
            "secret": secret,
            "raw": raw,
        }
        response = TemplateResponse(request, "admin/connectors/webhooksecret/issued.html", context)
        add_never_cache_headers(response)
        return response

    def log_addition(self, request, obj, message):
        if obj.pk:  # not when the service refused
            super().log_addition(request, obj, message)

    @admin.action(description="Revoke the selected secrets", permissions=["change"])
    def revoke(self, request, queryset):
        for secret in queryset:
            webhook_secret_revoke(secret=secret, actor=request.user)
        self.message_user(request, f"{queryset.count()} secret(s) revoked.", messages.SUCCESS)


class ConfigServiceAdminMixin:
    """Saves and deletes through the configuration service: the permission is checked at
    the row's plant before and after the change, and the history names the person."""

    def save_model(self, request, obj, form, change):
        try:
            if change:
                current = type(obj).objects.get(pk=obj.pk)
                values = {
                    n: form.cleaned_data[n] for n in form.changed_data if n in form.cleaned_data
                }
                config_update(
                    obj=current, values=values, actor=request.user, reason="changed in the admin"
                )
            else:
                created = config_create(
                    model=type(obj),
                    values=dict(form.cleaned_data),
                    actor=request.user,
                    reason="created in the admin",
                )
                obj.pk = created.pk
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc

    def delete_model(self, request, obj):
        try:
            config_delete(obj=obj, actor=request.user)
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(CsvLayout)
class CsvLayoutAdmin(ConfigServiceAdminMixin, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["system", "name", "plant", "filename_pattern", "event_type", "active"]
    list_filter = ["plant", "system", "event_type", "active"]
    search_fields = ["name", "filename_pattern"]


@admin.register(SparkplugMetricMapping)
class SparkplugMetricMappingAdmin(ConfigServiceAdminMixin, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["group_id", "edge_node_id", "device_id", "metric", "trigger", "event_type",
                    "plant", "system", "active"]  # fmt: skip
    list_filter = ["plant", "system", "event_type", "active"]
    search_fields = ["group_id", "edge_node_id", "device_id", "metric"]


@admin.register(TrytonSource)
class TrytonSourceAdmin(ConfigServiceAdminMixin, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["system", "plant", "warehouse", "routing_revision", "active", "watermark",
                    "last_polled_at", "last_error"]  # fmt: skip
    list_filter = ["plant", "system", "active"]
    readonly_fields = ["watermark", "last_polled_at", "last_error"]
