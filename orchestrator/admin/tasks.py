"""The task inbox in the admin: "My tasks" for the person logged in, and every task
(scoped to the user's plants). Claiming, giving back and completing call
``orchestrator.services.tasks`` with ``actor=request.user``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from interlock.errors import DomainError

from .. import models as om
from ..models.tasks import ACTIVE_STATES, outcomes_for
from ..selectors_tasks import task_detail_rows, task_links, tasks_links
from ..services import tasks as task_services
from . import ScopedAdmin, ServiceWritten


class CompleteForm(forms.Form):
    outcome = forms.ChoiceField(widget=forms.RadioSelect)
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="What you did or decided, for the audit trail.",
    )

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        choices = outcomes_for(kind)
        self.fields["outcome"].choices = choices
        self.fields["outcome"].initial = choices[0][0]


@admin.register(om.Task)
class TaskAdmin(ServiceWritten, ScopedAdmin):
    """Work rules and services opened for a role at a plant; people act from "My tasks"
    or from a task's page (the link in the e-mail)."""

    list_display = [
        "title",
        "plant",
        "role",
        "kind",
        "state",
        "assignee",
        "due_at",
        "escalate_to",
        "created_at",
    ]
    list_filter = ["plant", "state", "role", "kind"]
    search_fields = ["title", "correlation_id", "order__number", "lot__number"]
    list_select_related = ["plant", "assignee"]
    raw_id_fields = ["plant", "event", "order", "lot", "approval", "assignee", "completed_by"]
    # The card above the record shows the task as a person reads it (its details as rows
    # and tables); the record below, folded, keeps every field but the raw details.
    fieldsets = [
        (
            "Record",
            {
                "classes": ["collapse"],
                "fields": [
                    "plant",
                    "role",
                    "kind",
                    "title",
                    "state",
                    "due_at",
                    "escalate_to",
                    "escalated_at",
                    "assignee",
                    "claimed_at",
                    "completed_by",
                    "completed_at",
                    "outcome",
                    "comment",
                    "emailed_at",
                    "event",
                    "order",
                    "lot",
                    "approval",
                    "rule",
                    "correlation_id",
                    "created_at",
                ],
            },
        )
    ]
    change_form_template = "admin/orchestrator/task_change_form.html"
    change_list_template = "admin/orchestrator/task_change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("mine/", view(self.mine_view), name="orchestrator_task_mine"),
            path("<path:object_id>/act/", view(self.act_view), name="orchestrator_task_act"),
            *super().get_urls(),
        ]

    def has_view_permission(self, request, obj=None):
        # The people a task is addressed to see it, whatever their other permissions.
        if obj is not None and task_services.may_act(request.user, obj):
            return True
        return super().has_view_permission(request, obj)

    def _context(self, request, task: om.Task) -> dict:
        may = task_services.may_act(request.user, task)
        mine = task.assignee_id == request.user.pk
        return {
            "task": task,
            "links": task_links(task),
            "detail_rows": task_detail_rows(task.details),
            "may_act": may,
            "can_claim": may and task.state in ("open", "escalated"),
            "can_release": may and task.state == "claimed",
            "can_complete": may and task.state in ACTIVE_STATES and (not task.assignee_id or mine),
            "form": CompleteForm(kind=task.kind),
            "overdue": bool(task.due_at and task.due_at < timezone.now()),
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        task = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if task is not None:
            extra.update(self._context(request, task))
        return super().change_view(request, object_id, form_url, extra)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("plant", "assignee", "order", "lot", "subject_type")
        )

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:  # not in the user's plant scope, but addressed to them
            obj = om.Task.objects.filter(
                task_services.inbox_filter(request.user), pk=object_id
            ).first()
        return obj

    def mine_view(self, request):
        tasks = list(
            task_services.inbox(request.user)
            .select_related("plant", "assignee", "order", "lot", "subject_type")
            .order_by("due_at", "pk")
        )
        now = timezone.now()
        links = tasks_links(tasks)
        rows = [
            {
                "task": t,
                "links": links[t.pk],
                "overdue": bool(t.due_at and t.due_at < now),
                "mine": t.assignee_id == request.user.pk,
            }
            for t in tasks
        ]
        done = (
            om.Task.objects.filter(completed_by=request.user)
            .select_related("plant")
            .order_by("-completed_at")[:10]
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "My tasks",
            "rows": rows,
            "done": done,
        }
        return TemplateResponse(request, "admin/orchestrator/task_mine.html", context)

    def act_view(self, request, object_id):
        task = self.get_object(request, object_id)
        if task is None:
            return HttpResponseRedirect(reverse("admin:orchestrator_task_mine"))
        back = request.POST.get("next") or reverse("admin:orchestrator_task_change", args=[task.pk])
        if not back.startswith("/"):
            back = reverse("admin:orchestrator_task_mine")
        if request.method != "POST":
            return HttpResponseRedirect(back)
        action = request.POST.get("action")
        try:
            if action == "claim":
                task_services.task_claim(task=task, actor=request.user)
                messages.success(request, f"You claimed “{task.title}”.")
            elif action == "release":
                task_services.task_release(task=task, actor=request.user)
                messages.success(request, f"“{task.title}” is back with {task.role}.")
            elif action == "complete":
                form = CompleteForm(request.POST, kind=task.kind)
                if not form.is_valid():
                    for field, errors in form.errors.items():
                        messages.error(request, f"{field}: {' '.join(errors)}")
                    return HttpResponseRedirect(back)
                task_services.task_complete(
                    task=task,
                    actor=request.user,
                    outcome=form.cleaned_data["outcome"],
                    comment=form.cleaned_data["comment"],
                )
                messages.success(request, f"“{task.title}” done ({form.cleaned_data['outcome']}).")
                back = reverse("admin:orchestrator_task_mine")
            else:
                messages.error(request, f"Unknown action {action!r}.")
        except DomainError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(back)
