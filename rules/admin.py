"""Admin for rule sets: YAML in the ACE editor (served from the django-ace package, no CDN),
problems shown with their line on save, embedded test results, decisions and history.

Edits go through the services: a draft is validated and compiled on save; state changes
are the services' (submit/approve/publish), never a field edit.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django_ace import AceWidget
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .compiler import check_ruleset
from .models import Activation, RuleSet, RuleSetVersion, ScheduledPublish, VersionDecision


class VersionForm(forms.ModelForm):
    class Meta:
        model = RuleSetVersion
        fields = ["source", "plant"]
        widgets = {"source": AceWidget(mode="yaml", width="100%", height="500px", tabsize=2)}

    def clean_source(self):
        source = self.cleaned_data["source"]
        _, problems = check_ruleset(source)
        if problems:
            raise forms.ValidationError(
                [
                    f"line {p.line}, column {p.column}: {p.path} [{p.code}] {p.message}"
                    for p in problems
                ]
            )
        return source


class DecisionInline(admin.TabularInline):
    model = VersionDecision
    extra = 0
    fields = ["created_at", "kind", "actor", "plant", "text"]
    readonly_fields = fields
    can_delete = False


@admin.register(RuleSetVersion)
class RuleSetVersionAdmin(SimpleHistoryAdmin):
    form = VersionForm
    list_display = ["__str__", "plant", "state", "author", "approved_by", "created_at"]
    list_filter = ["state", "ruleset"]
    readonly_fields = [
        "state",
        "author",
        "approved_by",
        "test_results",
        "submitted_at",
        "approved_at",
        "published_at",
    ]
    inlines = [DecisionInline]
    actions = ["submit", "approve"]

    def has_change_permission(self, request, obj=None):
        # Published (and any non-draft) versions are immutable.
        if obj is not None and obj.state != "draft":
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            services.ruleset_version_update(version=obj, source=obj.source, actor=request.user)
        else:
            created = services.ruleset_version_create(
                source=obj.source, author=request.user, plant=obj.plant
            )
            obj.pk = created.pk

    @admin.action(description="Submit for review (embedded tests must pass)")
    def submit(self, request, queryset):
        for version in queryset:
            services.ruleset_version_submit(version=version, actor=request.user)

    @admin.action(description="Approve (four eyes)")
    def approve(self, request, queryset):
        for version in queryset:
            services.ruleset_version_approve(version=version, approver=request.user)


admin.site.register(RuleSet, SimpleHistoryAdmin)
admin.site.register(Activation, SimpleHistoryAdmin)
admin.site.register(ScheduledPublish)
