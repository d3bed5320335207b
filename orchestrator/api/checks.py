"""``POST /api/v1/checks/{check}``: synchronous allow/deny answers with reasons."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from plants.auth import plant_ids_for
from plants.models import Plant

from ..ingest.checks import CHECKS, check_run

#: Who may ask: anyone who may read the plant's orders (systems: the plants they serve).
CHECK_PERMISSION = "orchestrator.view_productionorder"


class CheckView(APIView):
    """Ask whether a step is allowed before committing it (e.g. may lot L-88 be issued to
    WO-1001?). Codes are the plant's own; the answer uses the same checks and the same
    published rule sets as ingest, explains a refusal by rule, condition and facts, and
    the question is recorded."""

    class InputSerializer(serializers.Serializer):
        plant = serializers.CharField(help_text="Plant code, e.g. P1.")
        order = serializers.CharField(required=False)
        lot = serializers.CharField(required=False)
        item = serializers.CharField(required=False, help_text="Plant item code.")
        qty = serializers.DecimalField(max_digits=18, decimal_places=6, required=False)
        uom = serializers.CharField(required=False, help_text="Plant unit code.")
        operation = serializers.CharField(required=False)
        routing_revision = serializers.CharField(required=False)
        correlation_id = serializers.CharField(required=False, max_length=100)

    class OutputSerializer(serializers.Serializer):
        allowed = serializers.BooleanField()
        reasons = serializers.ListField(
            child=serializers.DictField(),
            help_text="Why not: code, path, message; a rule's reason also names the rule "
            "set version, the rule, its condition and the facts it read ('rule').",
        )
        correlation_id = serializers.CharField()
        explanation = serializers.DictField(
            help_text="The rule set versions live at the plant (pins) and what each decided."
        )

    @extend_schema(
        operation_id="checks_run",
        parameters=[
            OpenApiParameter("check", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(CHECKS))
        ],
        request=InputSerializer,
        responses={200: OutputSerializer},
        tags=["checks"],
    )
    def post(self, request, check: str):
        if check not in CHECKS:
            raise NotFound(f"unknown check {check!r}; known: {', '.join(sorted(CHECKS))}")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "qty" in data:
            qty = data["qty"]
            data["qty"] = int(qty) if qty == qty.to_integral_value() else float(qty)
        plant = Plant.objects.filter(code=data["plant"]).first()
        allowed = plant_ids_for(request.user, CHECK_PERMISSION)
        if plant is None or (allowed is not None and plant.pk not in allowed):
            raise PermissionDenied(f"You may not ask checks for plant {data['plant']}.")
        answer = check_run(check=check, plant=plant, data=data, principal=request.user)
        return Response(
            self.OutputSerializer(
                {
                    "allowed": answer.allowed,
                    "reasons": answer.reasons,
                    "correlation_id": answer.correlation_id,
                    "explanation": answer.explanation,
                }
            ).data
        )
