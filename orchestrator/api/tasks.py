"""The task inbox and reconciliation over REST, for people (API keys of systems get 403).

- ``GET /api/v1/tasks/mine``: the caller's open tasks; ``POST /api/v1/tasks/{id}/claim``,
  ``/release``, ``/complete`` (``outcome``, ``comment``).
- ``POST /api/v1/reconciliation/runs`` (``plant``): reconcile a plant now;
  ``GET /api/v1/reconciliation/exceptions`` (``?plant=&state=``);
  ``POST /api/v1/reconciliation/exceptions/{id}/{assign|correct|accept|close}``
  (``reason``).

Each calls ``orchestrator.services.tasks`` or ``.reconciliation``, which check the
caller's role at the plant (403) and audit the step; rows outside the caller's plants are
404.
"""

from __future__ import annotations

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import PEOPLE_ONLY
from plants.models import Plant
from plants.selectors import scope_queryset

from ..models import ReconciliationException, ReconciliationRun, Task
from ..selectors_tasks import task_links, tasks_links
from ..services import reconciliation as recon
from ..services import tasks as task_services
from .serializers import code
from .workbench import ERRORS


class TaskLinkSerializer(serializers.Serializer):
    rel = serializers.CharField()
    label = serializers.CharField()
    url = serializers.CharField()


class TaskSerializer(serializers.ModelSerializer):
    """A task for a role at a plant, with its links."""

    plant = code()
    order = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)
    lot = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    completed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    links = serializers.SerializerMethodField(
        help_text="What the task is about and where it came from: ``rel``, ``label`` and "
        "``url`` (its admin page), as My tasks shows them."
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "plant",
            "role",
            "kind",
            "title",
            "details",
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
            "order",
            "lot",
            "approval",
            "event",
            "rule",
            "correlation_id",
            "created_at",
            "links",
        ]

    @extend_schema_field(TaskLinkSerializer(many=True))
    def get_links(self, task: Task) -> list[dict[str, str]]:
        request = self.context.get("request")
        known = self.context.get("links") or {}
        links = [link.as_dict() for link in known.get(task.pk) or task_links(task)]
        if request is not None:
            for link in links:
                link["url"] = request.build_absolute_uri(link["url"])
        return links


class TaskCompleteSerializer(serializers.Serializer):
    outcome = serializers.CharField(max_length=40, default="done")
    comment = serializers.CharField(max_length=2000)


def _task(request, pk: int) -> Task:
    visible = Task.objects.filter(
        Q(
            pk__in=scope_queryset(
                Task.objects.all(), user=request.user, perm="orchestrator.view_task"
            )
        )
        | task_services.inbox_filter(request.user)
    )
    return get_object_or_404(visible.select_related("plant", "assignee"), pk=pk)


#: What a task's fields and links read, in one query.
TASK_RELATED = ("plant", "order", "lot", "assignee", "completed_by", "subject_type")


def _task_out(request, task: Task) -> Response:
    task = Task.objects.select_related(*TASK_RELATED).get(pk=task.pk)
    return Response(TaskSerializer(task, context={"request": request}).data)


class MyTasksView(APIView):
    """The open tasks for the roles the caller holds at their plants, and those they
    claimed (earliest due first)."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=["tasks"], operation_id="tasks_mine", responses={200: TaskSerializer(many=True)}
    )
    def get(self, request):
        tasks = list(
            task_services.inbox(request.user)
            .select_related(*TASK_RELATED)
            .order_by("due_at", "pk")[:500]
        )
        context = {"request": request, "links": tasks_links(tasks)}
        return Response(TaskSerializer(tasks, many=True, context=context).data)


class TaskClaimView(APIView):
    """Claim a task (open or escalated)."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=["tasks"],
        operation_id="task_claim",
        request=None,
        responses={200: TaskSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        return _task_out(
            request, task_services.task_claim(task=_task(request, pk), actor=request.user)
        )


class TaskReleaseView(APIView):
    """Give a claimed task back to its role."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=["tasks"],
        operation_id="task_release",
        request=None,
        responses={200: TaskSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        return _task_out(
            request, task_services.task_release(task=_task(request, pk), actor=request.user)
        )


class TaskCompleteView(APIView):
    """Complete a task with an outcome and a comment (an approval task: ``approved`` or
    ``rejected``; a reconciliation task: ``corrected`` or ``accepted``)."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=["tasks"],
        operation_id="task_complete",
        request=TaskCompleteSerializer,
        responses={200: TaskSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        body = TaskCompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = task_services.task_complete(
            task=_task(request, pk),
            actor=request.user,
            outcome=body.validated_data["outcome"],
            comment=body.validated_data["comment"],
        )
        return _task_out(request, done)


# --- reconciliation -------------------------------------------------------------------------
class ReconciliationRunSerializer(serializers.ModelSerializer):
    """One reconciliation of a plant and its report."""

    plant = code()

    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "plant",
            "state",
            "started_at",
            "finished_at",
            "started_by",
            "compared",
            "differences",
            "opened",
            "closed",
            "report",
            "error",
        ]


class ReconciliationExceptionSerializer(serializers.ModelSerializer):
    """A difference between a system and Interlock and its resolution."""

    plant = code()
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    correction = serializers.CharField(
        source="correction.idempotency_key", read_only=True, allow_null=True
    )

    class Meta:
        model = ReconciliationException
        fields = [
            "id",
            "plant",
            "run",
            "last_seen_run",
            "system",
            "subject_kind",
            "subject",
            "field",
            "interlock_value",
            "system_value",
            "difference",
            "tolerance",
            "state",
            "assignee",
            "resolution",
            "correction",
            "task",
            "correlation_id",
            "created_at",
        ]


class ReconcileSerializer(serializers.Serializer):
    plant = serializers.CharField(max_length=20)


class ResolveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, default="")


class ReconciliationRunView(APIView):
    """Reconcile a plant now: snapshots of its ERP, MES and QMS compared with Interlock."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=["reconciliation"],
        operation_id="reconciliation_run",
        request=ReconcileSerializer,
        responses={201: ReconciliationRunSerializer, **ERRORS},
    )
    def post(self, request):
        body = ReconcileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plants = scope_queryset(
            Plant.objects.filter(active=True),
            user=request.user,
            perm="orchestrator.view_reconciliationrun",
        )
        plant = get_object_or_404(plants, code=body.validated_data["plant"])
        run = recon.reconcile_plant(plant=plant, actor=request.user)
        return Response(ReconciliationRunSerializer(run).data, status=201)


class ReconciliationExceptionsView(APIView):
    """Reconciliation exceptions in the caller's plants (newest first)."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=["reconciliation"],
        operation_id="reconciliation_exceptions",
        responses={200: ReconciliationExceptionSerializer(many=True)},
    )
    def get(self, request):
        qs = scope_queryset(
            ReconciliationException.objects.select_related("plant", "assignee", "correction"),
            user=request.user,
            perm="orchestrator.view_reconciliationexception",
        )
        if request.query_params.get("plant"):
            qs = qs.filter(plant__code=request.query_params["plant"])
        if request.query_params.get("state"):
            qs = qs.filter(state=request.query_params["state"])
        return Response(ReconciliationExceptionSerializer(qs[:500], many=True).data)


ACTIONS = {
    "assign": lambda e, u, r: recon.exception_assign(exception=e, actor=u),
    "correct": lambda e, u, r: recon.exception_correct(exception=e, actor=u, reason=r),
    "accept": lambda e, u, r: recon.exception_accept(exception=e, actor=u, reason=r),
    "close": lambda e, u, r: recon.exception_close(exception=e, actor=u, reason=r),
}


class ReconciliationExceptionActionView(APIView):
    """Work an exception: ``assign`` (to the caller), ``correct`` (post the correction
    through the outbox), ``accept`` or ``close`` — the last three with a ``reason``."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=["reconciliation"],
        operation_id="reconciliation_exception_act",
        request=ResolveSerializer,
        responses={200: ReconciliationExceptionSerializer, **ERRORS},
    )
    def post(self, request, pk: int, action: str):
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        qs = scope_queryset(
            ReconciliationException.objects.select_related("plant"),
            user=request.user,
            perm="orchestrator.view_reconciliationexception",
        )
        exception = get_object_or_404(qs, pk=pk)
        if action not in ACTIONS:
            return Response({"detail": f"unknown action {action!r}"}, status=404)
        done = ACTIONS[action](exception, request.user, body.validated_data["reason"])
        done = ReconciliationException.objects.select_related(
            "plant", "assignee", "correction"
        ).get(pk=done.pk)
        return Response(ReconciliationExceptionSerializer(done).data)
