"""Admin of the inbound transports' configuration: webhook secrets (issued and revoked
through services, shown once), CSV layouts and Sparkplug B metric mappings (plant-scoped,
like site mappings)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from interlock.errors import DomainError
from plants.admin_scoping import PlantScopedAdminMixin

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


@admin.register(CsvLayout)
class CsvLayoutAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["system", "name", "plant", "filename_pattern", "event_type", "active"]
    list_filter = ["plant", "system", "event_type", "active"]
    search_fields = ["name", "filename_pattern"]


@admin.register(SparkplugMetricMapping)
class SparkplugMetricMappingAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["group_id", "edge_node_id", "device_id", "metric", "trigger", "event_type",
                    "plant", "system", "active"]  # fmt: skip
    list_filter = ["plant", "system", "event_type", "active"]
    search_fields = ["group_id", "edge_node_id", "device_id", "metric"]


@admin.register(TrytonSource)
class TrytonSourceAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["system", "plant", "warehouse", "routing_revision", "active", "watermark",
                    "last_polled_at", "last_error"]  # fmt: skip
    list_filter = ["plant", "system", "active"]
    readonly_fields = ["watermark", "last_polled_at", "last_error"]
