"""Deciding a rule's approval over REST (``POST /api/v1/approvals/{id}/decide``).

Loads the request within the caller's plants (invisible → 404) and calls
``orchestrator.services.approvals.approval_decide``, which checks that the caller holds
the request's role at its plant (403) and audits the decision.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import PEOPLE_ONLY
from plants.selectors import scope_queryset

from ..models import ApprovalRequest
from ..services.approvals import approval_decide
from .serializers import code
from .workbench import ERRORS


class ApprovalDecisionSerializer(serializers.Serializer):
    """The decision: approve or reject, and why."""

    approve = serializers.BooleanField()
    reason = serializers.CharField(max_length=500)


class ApprovalRequestSerializer(serializers.ModelSerializer):
    """An approval a rule required and its decision."""

    plant = code()
    order = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)
    gate_state = serializers.CharField(source="gate.state", read_only=True, allow_null=True)
    decided_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "plant",
            "role",
            "reason",
            "escalate_to",
            "due_at",
            "order",
            "gate",
            "gate_state",
            "rule",
            "correlation_id",
            "state",
            "decided_by",
            "decided_at",
            "decision_reason",
            "escalated_at",
            "created_at",
        ]


class ApprovalDecideView(APIView):
    """Approve (the gate opens and the waiting events go on) or reject (it stays closed)
    an approval a rule required; only a person holding its role at its plant may."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=["approvals"],
        operation_id="approval_decide",
        request=ApprovalDecisionSerializer,
        responses={200: ApprovalRequestSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        body = ApprovalDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        qs = scope_queryset(
            ApprovalRequest.objects.all(),
            user=request.user,
            perm="orchestrator.view_approvalrequest",
        )
        decided = approval_decide(
            request=get_object_or_404(qs, pk=pk),
            actor=request.user,
            approve=body.validated_data["approve"],
            reason=body.validated_data["reason"],
        )
        decided = ApprovalRequest.objects.select_related(
            "plant", "order", "gate", "decided_by"
        ).get(pk=decided.pk)
        return Response(ApprovalRequestSerializer(decided).data)
