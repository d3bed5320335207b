"""Thin API views: each calls one service (STYLE.md); domain errors map to the error envelope.

Every operation is described for drf-spectacular with ``extend_schema`` (request and
response serializers, the error body for refusals), so ``/api/schema/`` documents the rules
API as completely as the read APIs.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import PEOPLE_ONLY
from plants.models import Plant
from rules import services
from rules.compiler import check_ruleset, ruleset_schema
from rules.models import RuleSet, RuleSetVersion
from rules.selectors import version_simulations

from .serializers import (
    ErrorOut,
    RollbackOut,
    ScheduledListOut,
    SimulationReportOut,
    ValidationOut,
    VersionOut,
)

TAGS = ["rules"]
#: Refusals every write operation can answer with, all in the one error body.
ERRORS = {
    400: OpenApiResponse(ErrorOut, description="Invalid input or a business rule said no."),
    403: OpenApiResponse(ErrorOut, description="Missing permission (or the four-eyes rule)."),
    404: OpenApiResponse(ErrorOut, description="No such version or rule set."),
    409: OpenApiResponse(ErrorOut, description="The version is not in a state that allows it."),
}


class RuleSetSchemaView(APIView):
    """The published JSON Schema of rule set documents (for editors and CI)."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=TAGS,
        operation_id="rules_schema_retrieve",
        summary="JSON Schema of rule set documents (format v1)",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="A JSON Schema.")},
    )
    def get(self, request):
        return Response(ruleset_schema())


class ValidateView(APIView):
    """Check a document without saving it: ``{"valid": bool, "problems": [...]}``."""

    permission_classes = PEOPLE_ONLY

    class Input(serializers.Serializer):
        """Request body of ValidateView."""

        class Meta:
            ref_name = "RulesValidate"

        source = serializers.CharField(help_text="The rule set document, YAML or JSON.")

    @extend_schema(
        tags=TAGS,
        operation_id="rules_validate",
        summary="Validate a rule set document and run its embedded tests",
        request=Input,
        responses={200: ValidationOut, 400: ERRORS[400]},
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        compiled, problems = check_ruleset(data.validated_data["source"])
        tests = [r.__dict__ for r in compiled.run_tests()] if compiled else []
        return Response(
            {"valid": not problems, "problems": [p.as_dict() for p in problems], "tests": tests}
        )


class VersionListCreateView(APIView):
    """The latest versions of every rule set, and creating a new draft."""

    permission_classes = PEOPLE_ONLY

    class Input(serializers.Serializer):
        """Request body of VersionListCreateView."""

        class Meta:
            ref_name = "RulesVersionCreate"

        source = serializers.CharField(help_text="The rule set document, YAML or JSON.")
        plant = serializers.SlugRelatedField(
            slug_field="code",
            queryset=Plant.objects.all(),
            required=False,
            allow_null=True,
            help_text="Plant code for a plant override; omit for a global version.",
        )

    @extend_schema(
        tags=TAGS,
        operation_id="rules_versions_list",
        summary="The 200 most recent rule set versions",
        responses={200: VersionOut(many=True)},
    )
    def get(self, request):
        versions = RuleSetVersion.objects.select_related(
            "ruleset", "plant", "author", "approved_by"
        ).order_by("-pk")[:200]
        return Response(VersionOut(versions, many=True).data)

    @extend_schema(
        tags=TAGS,
        operation_id="rules_versions_create",
        summary="Create a draft (the document must validate and compile)",
        request=Input,
        responses={201: VersionOut, 400: ERRORS[400], 403: ERRORS[403]},
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.ruleset_version_create(
            source=data.validated_data["source"],
            author=request.user,
            plant=data.validated_data.get("plant"),
        )
        return Response(VersionOut(version).data, status=201)


class VersionDetailView(APIView):
    """One version; a draft's text can be replaced."""

    permission_classes = PEOPLE_ONLY

    class Input(serializers.Serializer):
        """Request body of VersionDetailView."""

        class Meta:
            ref_name = "RulesVersionUpdate"

        source = serializers.CharField(help_text="The new text of the draft.")

    @extend_schema(
        tags=TAGS,
        operation_id="rules_versions_retrieve",
        summary="One rule set version",
        responses={200: VersionOut, 404: ERRORS[404]},
    )
    def get(self, request, pk):
        return Response(VersionOut(get_object_or_404(RuleSetVersion, pk=pk)).data)

    @extend_schema(
        tags=TAGS,
        operation_id="rules_versions_update",
        summary="Replace the text of a draft (anything past draft is immutable)",
        request=Input,
        responses={200: VersionOut, **ERRORS},
    )
    def put(self, request, pk):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.ruleset_version_update(
            version=get_object_or_404(RuleSetVersion, pk=pk),
            source=data.validated_data["source"],
            actor=request.user,
        )
        return Response(VersionOut(version).data)


class SubmitView(APIView):
    """Draft → in review, only when every embedded test passes."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=TAGS,
        operation_id="rules_versions_submit",
        summary="Submit a draft for review (embedded tests must pass)",
        request=None,
        responses={200: VersionOut, **ERRORS},
    )
    def post(self, request, pk):
        version = get_object_or_404(RuleSetVersion, pk=pk)
        services.ruleset_version_submit(version=version, actor=request.user)
        return Response(VersionOut(version).data)


class ApproveView(APIView):
    """In review → approved, by a governance-board member who is not the author."""

    permission_classes = PEOPLE_ONLY

    class Input(serializers.Serializer):
        """Request body of ApproveView."""

        class Meta:
            ref_name = "RulesVersionApprove"

        comment = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        tags=TAGS,
        operation_id="rules_versions_approve",
        summary="Approve a version in review (four eyes: not by its author)",
        request=Input,
        responses={200: VersionOut, **ERRORS},
    )
    def post(self, request, pk):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.ruleset_version_approve(
            version=get_object_or_404(RuleSetVersion, pk=pk),
            approver=request.user,
            comment=data.validated_data["comment"],
        )
        return Response(VersionOut(version).data)


class PublishView(APIView):
    """Publish globally (no ``plants``) or to chosen plants (canary); ``schedule`` to wait
    for each plant's release window."""

    permission_classes = PEOPLE_ONLY

    class Input(serializers.Serializer):
        """Request body of PublishView."""

        class Meta:
            ref_name = "RulesVersionPublish"

        plants = serializers.SlugRelatedField(
            slug_field="code",
            queryset=Plant.objects.all(),
            many=True,
            required=False,
            help_text="Plant codes for a canary; omit to publish as the global default.",
        )
        schedule = serializers.BooleanField(
            default=False, help_text="Publish at the start of each plant's next release window."
        )

    @extend_schema(
        tags=TAGS,
        operation_id="rules_versions_publish",
        summary="Publish an approved version globally, to chosen plants, or scheduled",
        request=Input,
        responses={
            200: VersionOut,
            202: OpenApiResponse(ScheduledListOut, description="Scheduled per plant."),
            **ERRORS,
        },
    )
    def post(self, request, pk):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        version = get_object_or_404(RuleSetVersion, pk=pk)
        plants = data.validated_data.get("plants")
        if data.validated_data["schedule"]:
            due = [
                services.ruleset_version_schedule_publish(
                    version=version, plant=p, actor=request.user
                )
                for p in plants or []
            ]
            return Response(
                {"scheduled": [{"plant": s.plant.code, "due_at": s.due_at} for s in due]},
                status=202,
            )
        version = services.ruleset_version_publish(
            version=version, actor=request.user, plants=plants
        )
        return Response(VersionOut(version).data)


class RollbackView(APIView):
    """One action: a plant (or the global default) goes back to its previous version."""

    permission_classes = PEOPLE_ONLY

    class Input(serializers.Serializer):
        """Request body of RollbackView."""

        class Meta:
            ref_name = "RulesRollback"

        plant = serializers.SlugRelatedField(
            slug_field="code",
            queryset=Plant.objects.all(),
            required=False,
            allow_null=True,
            help_text="Plant code; omit to roll back the global default.",
        )
        reason = serializers.CharField()

    @extend_schema(
        tags=TAGS,
        operation_id="rules_rulesets_rollback",
        summary="Roll a plant (or the global default) back to its previous version",
        request=Input,
        responses={200: RollbackOut, **ERRORS},
    )
    def post(self, request, key):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        activation = services.ruleset_rollback(
            ruleset=get_object_or_404(RuleSet, key=key),
            plant=data.validated_data.get("plant"),
            actor=request.user,
            reason=data.validated_data["reason"],
        )
        return Response(
            {
                "ruleset": key,
                "version": activation.version.label,
                "previous": activation.previous.label if activation.previous else None,
            }
        )


class SimulateView(APIView):
    """Run a version over a plant's stored events and report what would change."""

    permission_classes = PEOPLE_ONLY

    class Input(serializers.Serializer):
        """Request body of SimulateView."""

        class Meta:
            ref_name = "RulesVersionSimulate"

        plant = serializers.SlugRelatedField(slug_field="code", queryset=Plant.objects.all())
        last_n = serializers.IntegerField(
            required=False,
            allow_null=True,
            min_value=1,
            max_value=100_000,
            default=services.DEFAULT_SIMULATION_EVENTS,
            help_text="How many of the newest events to read (null: the whole window).",
        )
        since = serializers.DateTimeField(required=False, allow_null=True, default=None)
        until = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(
        tags=TAGS,
        operation_id="rules_versions_simulations_list",
        summary="Simulation reports of a version, newest first",
        responses={200: SimulationReportOut(many=True), 404: ERRORS[404]},
    )
    def get(self, request, pk):
        version = get_object_or_404(RuleSetVersion, pk=pk)
        return Response(SimulationReportOut(version_simulations(version=version), many=True).data)

    @extend_schema(
        tags=TAGS,
        operation_id="rules_versions_simulate",
        summary="Simulate a version against a plant's last N events or a time window",
        request=Input,
        responses={201: SimulationReportOut, **ERRORS},
    )
    def post(self, request, pk):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.ruleset_version_simulate(
            version=get_object_or_404(RuleSetVersion, pk=pk),
            actor=request.user,
            **data.validated_data,
        )
        return Response(SimulationReportOut(report).data, status=201)
