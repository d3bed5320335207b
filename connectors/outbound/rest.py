"""The REST/JSON connector (the wire contract shared with the ERP/MES/QMS simulators).

- single: ``POST {base_url}/messages`` with the message object and an ``Idempotency-Key``
  header; any 2xx is success (``reference`` read from a JSON body when present).
- batch: ``POST {base_url}/messages/batch`` with ``{"messages": [...]}`` → ``200
  {"results": [{idempotency_key, status, reference, error}, ...]}`` one per message, in
  order. A 2xx whose body does not have that shape is a transient ``bad_response``.
- 408, 429, 5xx, timeouts and connection errors are transient (``Retry-After`` honoured);
  any other 4xx is permanent.

httpx, because it gives one client with connection pooling, separate connect/read
timeouts and a transport seam the tests do not even need (they fake a real server).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from django.utils import timezone

from connectors.httpclient import http_client
from interlock.env import env_str

from . import oauth2
from .base import Connector, ConnectorError, OutboundMessage, Receipt, register

logger = logging.getLogger(__name__)

TRANSIENT_STATUS = {408, 429}
RECEIPT_STATUSES = {"applied", "duplicate", "rejected"}
#: Characters of a bad body kept in errors and logs.
BODY_SNIPPET = 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def credential(system) -> str:
    """The secret named by ``system.credential_env`` (``NAME`` or ``NAME_FILE``)."""
    secret = env_str(system.credential_env, "") if system.credential_env else ""
    if not secret:
        raise ConnectorError(
            f"credential variable {system.credential_env or '(none)'} of {system.code} is not set",
            permanent=True,
            code="credential_missing",
        )
    return secret


@register("rest")
class RestConnector(Connector):
    """POSTs JSON to a connected system; batch endpoint for more than one message."""

    max_batch = 100

    def __init__(self, system) -> None:
        super().__init__(system)
        base_url = (system.base_url or "").strip()
        parsed = urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            # Not a connection problem to retry for hours: nothing can be sent until the
            # system is configured (the rows are dead-lettered with this reason).
            raise ConnectorError(
                f"{system.code} has no usable base URL ({base_url or 'empty'}); "
                "set an http(s) URL on the connected system",
                permanent=True,
                code="config_error",
            )
        timeout = float(system.timeout_seconds)
        self.client = http_client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": "Interlock-outbound/1"},
        )

    def close(self) -> None:
        self.client.close()

    # --- auth -------------------------------------------------------------------------------
    def _headers(self, body: bytes, *, refresh: bool = False) -> dict[str, str]:
        auth = self.system.auth_type
        headers = {"Content-Type": "application/json"}
        if auth == "oauth2":
            token = oauth2.bearer_token(
                self.system, credential(self.system), self.client, refresh=refresh
            )
            headers["Authorization"] = f"Bearer {token}"
        elif auth == "bearer":
            headers["Authorization"] = f"Bearer {credential(self.system)}"
        elif auth == "basic":
            token = base64.b64encode(credential(self.system).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif auth == "hmac":
            digest = hmac.new(credential(self.system).encode(), body, hashlib.sha256).hexdigest()
            headers["X-Interlock-Signature"] = f"sha256={digest}"
        return headers

    # --- transport --------------------------------------------------------------------------
    def _post(self, path: str, body: dict, extra_headers: dict[str, str]) -> httpx.Response:
        raw = json.dumps(body, separators=(",", ":"), default=str).encode()
        response = self._request(path, raw, extra_headers)
        if response.status_code == 401 and self.system.auth_type == "oauth2":
            # The token was revoked or expired early: one retry with a fresh one.
            response = self._request(path, raw, extra_headers, refresh=True)
        status = response.status_code
        if 200 <= status < 300:
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        snippet = response.text[:BODY_SNIPPET]
        if status in TRANSIENT_STATUS or status >= 500:
            raise ConnectorError(
                f"HTTP {status}: {snippet}",
                retry_after=retry_after,
                status_code=status,
                code="throttled" if status == 429 else "http_transient",
            )
        if status in (401, 403):
            # Our credential was refused: every message of this system would be.
            raise ConnectorError(
                f"HTTP {status}: credential of {self.system.code} refused "
                f"({self.system.auth_type}, {self.system.credential_env or 'no variable'}): "
                f"{snippet}",
                permanent=True,
                status_code=status,
                code="auth_failed",
            )
        raise ConnectorError(
            f"HTTP {status}: {snippet}", permanent=True, status_code=status, code="http_permanent"
        )

    def _request(
        self, path: str, raw: bytes, extra_headers: dict[str, str], *, refresh: bool = False
    ) -> httpx.Response:
        headers = {**self._headers(raw, refresh=refresh), **extra_headers}
        try:
            return self.client.post(path, content=raw, headers=headers)
        except httpx.TimeoutException as exc:
            raise ConnectorError(f"timeout: {exc!r}", code="timeout") from exc
        except httpx.HTTPError as exc:  # connection refused, reset, DNS...
            raise ConnectorError(f"connection error: {exc!r}", code="connection") from exc

    def _bad_response(self, response: httpx.Response, why: str) -> ConnectorError:
        logger.warning(
            "bad response from %s (%s): %s", self.system.code, why, response.text[:BODY_SNIPPET]
        )
        return ConnectorError(
            f"bad_response: {why}: {response.text[:BODY_SNIPPET]}",
            status_code=response.status_code,
            code="bad_response",
        )

    def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        if len(messages) == 1:
            return [self._send_one(messages[0])]
        return self._send_batch(messages)

    def _send_one(self, message: OutboundMessage) -> Receipt:
        response = self._post(
            "/messages", message.as_wire(), {"Idempotency-Key": message.idempotency_key}
        )
        body: object = None
        if response.content.strip():
            try:
                body = response.json()
            except ValueError:
                raise self._bad_response(response, "not JSON") from None
            if not isinstance(body, dict):
                raise self._bad_response(response, "not a JSON object")
        body = body or {}
        status = body.get("status") if body.get("status") in RECEIPT_STATUSES else "applied"
        reference = body.get("reference")
        return Receipt(
            idempotency_key=message.idempotency_key,
            status=status,
            reference=str(reference) if reference not in (None, "") else None,
            error=body.get("error"),
            status_code=response.status_code,
            extra=body,
        )

    def _send_batch(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        response = self._post("/messages/batch", {"messages": [m.as_wire() for m in messages]}, {})
        try:
            body = response.json()
        except ValueError:
            raise self._bad_response(response, "not JSON") from None
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != len(messages):
            raise self._bad_response(response, "results missing or of the wrong length")
        receipts = []
        for message, result in zip(messages, results, strict=True):
            if (
                not isinstance(result, dict)
                or result.get("idempotency_key") != message.idempotency_key
                or result.get("status") not in RECEIPT_STATUSES
            ):
                raise self._bad_response(response, "a result does not match its message")
            reference = result.get("reference")
            receipts.append(
                Receipt(
                    idempotency_key=message.idempotency_key,
                    status=result["status"],
                    reference=str(reference) if reference not in (None, "") else None,
                    error=result.get("error"),
                    status_code=response.status_code,
                    extra=result,
                )
            )
        return receipts
