"""Plants and their release calendar."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from interlock.errors import DomainError

from ..models import Plant, ReleaseFreeze, ReleaseWindow
from ..selectors import scope_queryset
from ..services.onboarding import PARTS, plant_onboard_from_template
from .base import ParentScopedInlineMixin, ScopedHistoryAdmin


class OnboardForm(forms.Form):
    """Copy a template plant's configuration into this one (diff first)."""

    template = forms.ModelChoiceField(queryset=Plant.objects.none())
    include = forms.MultipleChoiceField(
        choices=[(p, p.replace("_", " ")) for p in PARTS],
        initial=list(PARTS),
        widget=forms.CheckboxSelectMultiple,
    )
    apply = forms.BooleanField(
        required=False, label="Copy now (otherwise only show what would change)"
    )

    def __init__(self, *args, templates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates


class ReleaseWindowInline(ParentScopedInlineMixin, admin.TabularInline):
    model = ReleaseWindow
    extra = 0
    fields = ["name", "weekday", "start_time", "end_time", "active"]


class ReleaseFreezeInline(ParentScopedInlineMixin, admin.TabularInline):
    model = ReleaseFreeze
    extra = 0
    fields = ["starts_at", "ends_at", "reason"]


@admin.register(Plant)
class PlantAdmin(ScopedHistoryAdmin):
    list_display = ["code", "name", "profile", "timezone", "erp_company_code", "active"]
    list_filter = ["profile", "active"]
    search_fields = ["code", "name", "erp_company_code"]
    inlines = [ReleaseWindowInline, ReleaseFreezeInline]
    actions = ["onboard_from_template"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.onboard_view)
        return [
            path("<int:pk>/onboard/", view, name="plants_plant_onboard"),
            *super().get_urls(),
        ]

    @admin.action(description="Onboard from a template plant…", permissions=["view"])
    def onboard_from_template(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one plant to onboard.", messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:plants_plant_onboard", args=[queryset.get().pk]))

    def onboard_view(self, request, pk: int):
        """The diff of copying a template plant's setup here; "Copy now" applies it through
        the same service as the API (permissions are checked row by row at this plant)."""
        target = get_object_or_404(self.get_queryset(request), pk=pk)
        templates = scope_queryset(
            Plant.objects.exclude(pk=target.pk), user=request.user, perm="plants.view_plant"
        )
        form = OnboardForm(request.POST or None, templates=templates)
        result = None
        if request.method == "POST" and form.is_valid():
            try:
                result = plant_onboard_from_template(
                    template=form.cleaned_data["template"],
                    target=target,
                    actor=request.user,
                    dry_run=not form.cleaned_data["apply"],
                    include=set(form.cleaned_data["include"]),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                if not result.dry_run:
                    counts = ", ".join(f"{n} {a}" for a, n in sorted(result.counts.items()))
                    self.message_user(
                        request,
                        f"{target.code} onboarded from {result.template}: {counts}.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:plants_plant_change", args=[target.pk])
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Onboard {target.code} from a template",
            "opts": self.opts,
            "original": target,
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/plants/plant/onboard.html", context)


@admin.register(ReleaseWindow)
class ReleaseWindowAdmin(ScopedHistoryAdmin):
    """Where plant admins edit their windows (the Plant page shows them read-only to
    anyone who may not change the Plant record itself)."""

    list_display = ["plant", "name", "weekday", "start_time", "end_time", "active"]
    list_filter = [("plant", admin.RelatedOnlyFieldListFilter), "weekday", "active"]
    search_fields = ["name", "plant__code"]
    list_select_related = ["plant"]


@admin.register(ReleaseFreeze)
class ReleaseFreezeAdmin(ScopedHistoryAdmin):
    list_display = ["plant", "starts_at", "ends_at", "reason"]
    list_filter = [("plant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["reason", "plant__code"]
    date_hierarchy = "starts_at"
    list_select_related = ["plant"]
