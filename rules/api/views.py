"""Thin API views: each calls one service (STYLE.md); domain errors map to the error envelope."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from plants.models import Plant
from rules import services
from rules.compiler import check_ruleset, ruleset_schema
from rules.models import RuleSet, RuleSetVersion


class VersionOut(serializers.ModelSerializer):
    ruleset = serializers.CharField(source="ruleset.key")
    plant = serializers.CharField(source="plant.code", default=None)
    author = serializers.CharField(source="author.username")
    approved_by = serializers.CharField(source="approved_by.username", default=None)

    class Meta:
        model = RuleSetVersion
        fields = [
            "id",
            "ruleset",
            "number",
            "plant",
            "state",
            "source",
            "author",
            "approved_by",
            "test_results",
            "created_at",
            "submitted_at",
            "approved_at",
            "published_at",
        ]


class RuleSetSchemaView(APIView):
    """The published JSON Schema of rule set documents (for editors and CI)."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(ruleset_schema())


class ValidateView(APIView):
    """Check a document without saving it: ``{"valid": bool, "problems": [...]}``."""

    permission_classes = [IsAuthenticated]

    class Input(serializers.Serializer):
        source = serializers.CharField()

    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        compiled, problems = check_ruleset(data.validated_data["source"])
        tests = [r.__dict__ for r in compiled.run_tests()] if compiled else []
        return Response(
            {"valid": not problems, "problems": [p.as_dict() for p in problems], "tests": tests}
        )


class VersionListCreateView(APIView):
    permission_classes = [IsAuthenticated]

    class Input(serializers.Serializer):
        source = serializers.CharField()
        plant = serializers.SlugRelatedField(
            slug_field="code", queryset=Plant.objects.all(), required=False, allow_null=True
        )

    def get(self, request):
        versions = RuleSetVersion.objects.select_related(
            "ruleset", "plant", "author", "approved_by"
        ).order_by("-pk")[:200]
        return Response(VersionOut(versions, many=True).data)

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
    permission_classes = [IsAuthenticated]

    class Input(serializers.Serializer):
        source = serializers.CharField()

    def get(self, request, pk):
        return Response(VersionOut(get_object_or_404(RuleSetVersion, pk=pk)).data)

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
    permission_classes = [IsAuthenticated]

    def post(self, request, pk):
        version = get_object_or_404(RuleSetVersion, pk=pk)
        if version.author_id != request.user.pk:
            services._require(request.user, "rules.change_rulesetversion", version)
        services.ruleset_version_submit(version=version, actor=request.user)
        return Response(VersionOut(version).data)


class ApproveView(APIView):
    permission_classes = [IsAuthenticated]

    class Input(serializers.Serializer):
        comment = serializers.CharField(required=False, allow_blank=True, default="")

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

    permission_classes = [IsAuthenticated]

    class Input(serializers.Serializer):
        plants = serializers.SlugRelatedField(
            slug_field="code", queryset=Plant.objects.all(), many=True, required=False
        )
        schedule = serializers.BooleanField(default=False)

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
    permission_classes = [IsAuthenticated]

    class Input(serializers.Serializer):
        plant = serializers.SlugRelatedField(
            slug_field="code", queryset=Plant.objects.all(), required=False, allow_null=True
        )
        reason = serializers.CharField()

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
