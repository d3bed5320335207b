"""Environment promotion over REST: ``GET /api/v1/rules/bundle`` exports, ``POST
/api/v1/rules/bundle/import`` imports as drafts (see :mod:`rules.bundles`)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from plants.permissions import require_perm

from .. import bundles
from .serializers import ErrorOut

TAGS = ["rules"]


class BundleExportView(APIView):
    """The live rule set versions (or all, ``?versions=all``) as a bundle with its hash."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        operation_id="rules_bundle_export",
        summary="Export rule sets and their versions as a bundle (content-hashed)",
        parameters=[
            OpenApiParameter(
                "ruleset", str, many=True, description="Rule set key(s); default all."
            ),
            OpenApiParameter("versions", str, enum=list(bundles.VERSION_CHOICES)),
        ],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The bundle.")},
    )
    def get(self, request):
        require_perm(request.user, "rules.view_rulesetversion")
        bundle = bundles.bundle_export(
            keys=request.query_params.getlist("ruleset") or None,
            versions=request.query_params.get("versions", "live"),
            origin=request.get_host(),
        )
        return Response(bundle)


class BundleImportView(APIView):
    """Import a bundle: every version becomes a draft authored by the caller, to be
    submitted, approved by someone else and published as usual."""

    permission_classes = [permissions.IsAuthenticated]

    class Input(serializers.Serializer):
        class Meta:
            ref_name = "RulesBundleImport"

        bundle = serializers.JSONField(help_text="The bundle as exported.")
        dry_run = serializers.BooleanField(default=False)

    class Output(serializers.Serializer):
        class Meta:
            ref_name = "RulesBundleImportResult"

        content_hash = serializers.CharField()
        dry_run = serializers.BooleanField()
        created = serializers.IntegerField()
        skipped = serializers.IntegerField()
        versions = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        tags=TAGS,
        operation_id="rules_bundle_import",
        summary="Import a bundle as drafts (four eyes still needed)",
        request=Input,
        responses={
            200: Output,
            400: OpenApiResponse(ErrorOut, description="Bad bundle: format, hash, a source."),
            403: OpenApiResponse(ErrorOut, description="Missing permission to author versions."),
        },
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        result = bundles.bundle_import(
            bundle=data.validated_data["bundle"],
            actor=request.user,
            dry_run=data.validated_data["dry_run"],
        )
        return Response(result.as_dict())
