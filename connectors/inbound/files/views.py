"""``POST /api/v1/files/<name>``: upload one file (CSV, B2MML XML or X12 856).

The body is the file itself (any content type), or a multipart form with a ``file``
field. ``?plant=`` names the plant when the system serves several; ``?layout=`` picks a
CSV layout by name instead of by file name. The answer lists one result per envelope and
the ids of quarantined fragments (``200``; the file as a whole was taken).
"""

from __future__ import annotations

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import error_body
from plants.api.authentication import ApiKeyAuthentication

from ..rest import IsConnectedSystem
from . import file_ingest


class _RawBody:
    """Accept any media type and leave the body alone: the view reads the file itself."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):  # pragma: no cover
        return None


class FileUploadView(APIView):
    """Upload a file for the file-drop transport."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [permissions.IsAuthenticated & IsConnectedSystem]
    parser_classes = [_RawBody]

    @extend_schema(
        operation_id="files_upload",
        parameters=[
            OpenApiParameter("plant", str, description="plant code (system serving several)"),
            OpenApiParameter("layout", str, description="CSV layout name"),
        ],
        request={"application/octet-stream": bytes, "text/csv": bytes, "application/xml": bytes},
        responses={
            200: OpenApiResponse(description="results per envelope, quarantined fragment ids"),
            403: OpenApiResponse(description="plant the system does not serve"),
            413: OpenApiResponse(description="file too large"),
        },
        tags=["events"],
    )
    def post(self, request, name: str):
        limit = min(settings.INTERLOCK_FILE_MAX_BYTES, settings.INTERLOCK_MAX_REQUEST_BYTES)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        too_big = Response(
            error_body(
                "request_too_large",
                f"file over {limit} bytes",
                [
                    {
                        "path": "",
                        "code": "request_too_large",
                        "message": "split the file",
                        "expected": limit,
                        "found": length,
                    }
                ],
            ),
            status=413,
        )
        if length > limit:
            return too_big
        try:
            content_type = request.META.get("CONTENT_TYPE", "")
            if content_type.startswith("multipart/form-data"):
                upload = request._request.FILES.get("file")
                if upload is None:
                    return Response(
                        error_body(
                            "validation_error",
                            "the form has no 'file' field",
                            [{"path": "file", "code": "required", "message": "attach the file"}],
                        ),
                        status=400,
                    )
                data = upload.read()
            else:
                data = request._request.body
        except RequestDataTooBig:
            return too_big
        principal = request.user
        plant = request.query_params.get("plant") or None
        if plant and plant not in principal.plant_codes:
            return Response(
                error_body(
                    "permission_denied",
                    f"{principal.system.code} does not serve plant {plant}",
                    [
                        {
                            "path": "plant",
                            "code": "forbidden_plant",
                            "message": "not your plant",
                            "expected": sorted(principal.plant_codes),
                            "found": plant,
                        }
                    ],
                ),
                status=403,
            )
        outcome = file_ingest(
            system=principal.system,
            name=name,
            data=data,
            plant_code=plant,
            layout=request.query_params.get("layout") or None,
        )
        return HttpResponse(
            orjson.dumps(outcome.as_dict()), status=200, content_type="application/json"
        )
