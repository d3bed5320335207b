"""Signed webhooks: ``POST /api/v1/webhooks/<system code>``.

For SaaS systems (a cloud QMS) that cannot hold an API key but sign what they send. The
request carries::

    X-Interlock-Timestamp: 1764480000             (Unix seconds when it was signed)
    X-Interlock-Signature: v1=<hex HMAC-SHA256>   (several, comma-separated, allowed)

and the signature is ``HMAC-SHA256(secret, "<timestamp>." + body)``. Binding the
timestamp into the signature is what makes the replay window meaningful: an old request
cannot be re-sent with a fresh timestamp. Checks, in order, each with its own 401 code:
``unknown_system``, ``missing_timestamp``, ``missing_signature``, ``bad_timestamp``,
``stale_timestamp`` (outside ``INTERLOCK_WEBHOOK_TOLERANCE_SECONDS``), ``no_active_secret``,
``bad_signature`` and ``replayed_signature`` (the very same signed request twice within
the window). Signatures are compared with ``hmac.compare_digest`` against every usable
secret of the system (two during a rotation).

The body is what ``POST /api/v1/events`` takes: one envelope, a JSON array of envelopes or
``{"events": [...]}``. It goes through the same pipeline (raw store, idempotency,
quarantine). Unsigned or wrongly signed requests are not stored: nobody vouches for them.
Every exchange is logged with its outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import orjson
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import error_body
from orchestrator.ingest import intake
from orchestrator.ingest.intake import RawBody
from plants.models import ConnectedSystem

from ..models import WebhookSecret
from .base import deliver, principal_for
from .rest import refusal_response

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Interlock-Timestamp"
SIGNATURE_HEADER = "X-Interlock-Signature"
SCHEME = "v1"


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The signature header value a sender computes (used by tests and the docs)."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


class SignatureError(Exception):
    """A check of a signed request failed; ``code`` names which one."""

    def __init__(self, code: str, message: str, *, expected=None, found=None, path=""):
        super().__init__(message)
        self.code, self.message = code, message
        self.expected, self.found, self.path = expected, found, path

    def response(self) -> Response:
        detail = {"path": self.path, "code": self.code, "message": self.message}
        if self.expected is not None:
            detail["expected"] = self.expected
        if self.found is not None:
            detail["found"] = self.found
        response = Response(error_body(self.code, self.message, [detail]), status=401)
        response["WWW-Authenticate"] = f'Signature realm="webhooks", headers="{SIGNATURE_HEADER}"'
        return response


def verify(*, system: ConnectedSystem | None, headers, body: bytes, now: float) -> WebhookSecret:
    """Check a signed request; return the secret that signed it or raise SignatureError."""
    if system is None or not system.active:
        raise SignatureError("unknown_system", "no active connected system of that code")
    timestamp = headers.get(TIMESTAMP_HEADER)
    if not timestamp:
        raise SignatureError(
            "missing_timestamp", f"the {TIMESTAMP_HEADER} header is missing", path=TIMESTAMP_HEADER
        )
    signature_header = headers.get(SIGNATURE_HEADER)
    if not signature_header:
        raise SignatureError(
            "missing_signature", f"the {SIGNATURE_HEADER} header is missing", path=SIGNATURE_HEADER
        )
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise SignatureError(
            "bad_timestamp",
            f"{TIMESTAMP_HEADER} must be Unix seconds",
            path=TIMESTAMP_HEADER,
            found=timestamp[:40],
        ) from None
    tolerance = settings.INTERLOCK_WEBHOOK_TOLERANCE_SECONDS
    skew = int(now) - signed_at
    if abs(skew) > tolerance:
        raise SignatureError(
            "stale_timestamp",
            f"signed {abs(skew)} s {'ago' if skew > 0 else 'in the future'}; the window is "
            f"±{tolerance} s (check the sender's clock, or it is a replay)",
            path=TIMESTAMP_HEADER,
            expected=f"within {tolerance} s of {int(now)}",
            found=signed_at,
        )
    secrets = list(WebhookSecret.objects.usable().filter(system=system))
    if not secrets:
        raise SignatureError(
            "no_active_secret", f"{system.code} has no active webhook secret; issue one"
        )
    offered = [
        part.strip()[len(SCHEME) + 1 :]
        for part in signature_header.split(",")
        if part.strip().startswith(f"{SCHEME}=")
    ]
    if not offered:
        raise SignatureError(
            "bad_signature",
            f"{SIGNATURE_HEADER} carries no {SCHEME}= signature",
            path=SIGNATURE_HEADER,
        )
    message = f"{signed_at}.".encode() + body
    for secret in secrets:
        for key in secret.secrets():
            expected = hmac.new(key, message, hashlib.sha256).hexdigest()
            # Every candidate is compared in full (constant time per comparison).
            if any(hmac.compare_digest(expected, candidate) for candidate in offered):
                return secret
    raise SignatureError(
        "bad_signature",
        "no signature matches an active secret (is the body signed exactly as sent, "
        'as "<timestamp>." + body, with HMAC-SHA256?)',
        path=SIGNATURE_HEADER,
    )


def _first_use(signature_header: str, tolerance: int) -> bool:
    """True the first time a signature is seen within the window (shared cache)."""
    digest = hashlib.sha256(signature_header.encode()).hexdigest()
    try:
        return cache.add(f"interlock:webhook-sig:{digest}", 1, timeout=2 * tolerance + 1)
    except Exception as exc:  # cache away: idempotency still turns a replay into a duplicate
        logger.warning("webhook replay cache unavailable: %s", exc)
        return True


class WebhookView(APIView):
    """Receive a signed webhook from a connected system."""

    authentication_classes: list = []  # the signature is the authentication
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="webhooks_create",
        parameters=[
            OpenApiParameter(TIMESTAMP_HEADER, str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter(
                SIGNATURE_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description='`v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`',
            ),
        ],
        request={"application/json": dict},
        responses={
            200: OpenApiResponse(description="one result per envelope (array body)"),
            202: OpenApiResponse(description="the result (single envelope)"),
            400: OpenApiResponse(description="not JSON"),
            401: OpenApiResponse(description="which check failed, by code"),
            413: OpenApiResponse(description="body too large"),
        },
        tags=["events"],
    )
    def post(self, request, system_code: str):
        limit = settings.INTERLOCK_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        try:
            if length > limit:
                raise RequestDataTooBig
            body = request._request.body
        except RequestDataTooBig:
            return Response(
                error_body("request_too_large", f"request body over {limit} bytes"), status=413
            )
        system = ConnectedSystem.objects.filter(code=system_code).first()
        try:
            secret = verify(system=system, headers=request.headers, body=body, now=time.time())
            tolerance = settings.INTERLOCK_WEBHOOK_TOLERANCE_SECONDS
            if not _first_use(request.headers[SIGNATURE_HEADER], tolerance):
                raise SignatureError(
                    "replayed_signature",
                    "this signed request was received before; sign every delivery anew",
                    path=SIGNATURE_HEADER,
                )
        except SignatureError as exc:
            logger.warning(
                "webhook refused",
                extra={"system": system_code, "check": exc.code, "bytes": len(body)},
            )
            return exc.response()
        now = timezone.now()
        if secret.last_used_at is None or (now - secret.last_used_at).total_seconds() > 60:
            WebhookSecret.objects.filter(pk=secret.pk).update(last_used_at=now)
        principal = principal_for(system)
        # The same intake as POST /api/v1/events: hostile bodies are refused by path and
        # stored; each envelope is screened before it reaches the pipeline.
        raw = RawBody.of(body)
        parsed, refusal = intake.parse(principal=principal, body=raw)
        if refusal is not None:
            return refusal_response(refusal)
        single = isinstance(parsed.doc, dict) and "events" not in parsed.doc
        if single:
            envelopes = [intake.single_envelope(parsed=parsed)]
        else:
            envelopes, refusal = intake.bulk_envelopes(
                principal=principal,
                body=raw,
                parsed=parsed,
                max_items=settings.INTERLOCK_BULK_MAX_ITEMS,
            )
            if refusal is not None:
                return refusal_response(refusal)
        outcome = deliver(principal=principal, envelopes=envelopes)
        logger.info(
            "webhook received",
            extra={"system": system.code, "secret": secret.pk, "counts": outcome.counts()},
        )
        if single:
            return HttpResponse(
                orjson.dumps(outcome.results[0].as_dict()),
                status=202,
                content_type="application/json",
            )
        return HttpResponse(
            orjson.dumps({"results": [r.as_dict() for r in outcome.results]}),
            status=200,
            content_type="application/json",
        )
