"""A small JSON-RPC client for a Tryton server (``POST /<database>/rpc/``).

Tryton's JSON-RPC is one method per call (``model.production.search``, ``common.db.login``)
with positional parameters, the user's context last. Values Tryton cannot say in plain
JSON travel as objects tagged ``__class__`` (``Decimal``, ``date``, ``datetime``,
``bytes``); :func:`encode` and :func:`decode` translate them.

Authentication is a session: ``common.db.login`` answers ``[user_id, key, ...]`` and later
calls send ``Authorization: Session base64(login:user_id:key)``. An expired session (401
or 403) is renewed once, transparently. Errors keep Tryton's own classification:

- ``UserError`` / ``UserWarning`` / ``AccessError`` (a business refusal: wrong state,
  missing data, no right) → :class:`TrytonError` with ``permanent=True``;
- ``ConcurrencyException``, HTTP 429/5xx/timeouts/connection errors → transient;
- a refused login → ``permanent`` with ``code="auth_failed"``.

httpx like the REST connector: one pooled client, separate connect and read timeouts.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
from decimal import Decimal
from typing import Any

import httpx

from connectors.httpclient import http_client

#: Tryton exception names that are a business answer, not a failure of the call.
USER_ERRORS = frozenset({"UserError", "UserWarning", "AccessError", "ValidationError"})
TRANSIENT_ERRORS = frozenset({"ConcurrencyException", "TimeoutException"})


class TrytonError(Exception):
    """A call failed. ``permanent``: repeating it gives the same answer (a business
    refusal, a refused login); otherwise it is worth retrying later. ``code`` names the
    kind: ``user_error``, ``auth_failed``, ``concurrency``, ``http_transient``,
    ``timeout``, ``connection``, ``bad_response``."""

    def __init__(self, message: str, *, permanent: bool, code: str, status_code=None):
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.status_code = status_code


def encode(value: Any) -> Any:
    """Python → Tryton's JSON (``Decimal``, dates and bytes tagged with ``__class__``)."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, bytes | bytearray):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """Tryton's JSON → Python (the inverse of :func:`encode`)."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__class__")
    if kind == "Decimal":
        return Decimal(value["decimal"])
    if kind == "date":
        return dt.date(value["year"], value["month"], value["day"])
    if kind == "datetime":
        return dt.datetime(
            value["year"],
            value["month"],
            value["day"],
            value.get("hour", 0),
            value.get("minute", 0),
            value.get("second", 0),
            value.get("microsecond", 0),
        )
    if kind == "time":
        return dt.time(
            value.get("hour", 0),
            value.get("minute", 0),
            value.get("second", 0),
            value.get("microsecond", 0),
        )
    if kind == "timedelta":
        return dt.timedelta(seconds=value["seconds"])
    if kind == "bytes":
        return base64.b64decode(value["base64"])
    return {k: decode(v) for k, v in value.items()}


def parse_credential(secret: str) -> tuple[str, str]:
    """``login:password`` (the value of the system's credential variable)."""
    login, sep, password = secret.partition(":")
    if not sep or not login or not password:
        raise TrytonError(
            "the Tryton credential must be 'login:password'", permanent=True, code="auth_failed"
        )
    return login, password


class TrytonClient:
    """One Tryton database: ``url`` is ``http(s)://host:port/<database>/``."""

    def __init__(self, url: str, *, login: str, password: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/") + "/rpc/"
        self.login = login
        self.password = password
        self.client = http_client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": "Interlock-tryton/1"},
        )
        self._ids = itertools.count(1)
        self._session: str | None = None
        self._user_id: int | None = None
        self._context: dict = {}

    def close(self) -> None:
        self.client.close()

    # --- session ----------------------------------------------------------------------------
    def _login(self) -> None:
        result = self._post(
            {
                "method": "common.db.login",
                "params": [self.login, {"password": self.password}, "en"],
            },
            auth=False,
        )
        if not isinstance(result, list) or len(result) < 2:
            raise TrytonError(
                f"login of {self.login!r} refused", permanent=True, code="auth_failed"
            )
        self._user_id, self._session = int(result[0]), str(result[1])
        # The user's preferences (company, language) are the context of every call, as the
        # Tryton client sends them.
        self._context = self.call("model.res.user.get_preferences", True) or {}

    @property
    def context(self) -> dict:
        if self._session is None:
            self._login()
        return dict(self._context)

    # --- calls ------------------------------------------------------------------------------
    def call(self, method: str, *params: Any, context: dict | None = None) -> Any:
        """Call ``method`` with ``params`` and the user's context (plus ``context``)."""
        if self._session is None:
            self._login()
        ctx = {**self._context, **(context or {})}
        body = {"method": method, "params": [*params, ctx]}
        try:
            return self._post(body)
        except TrytonError as exc:
            if exc.code != "session_expired":
                raise
            self._session = None
            self._login()
            return self._post({"method": method, "params": [*params, ctx]})

    def model(self, name: str, method: str, *params: Any, context: dict | None = None) -> Any:
        return self.call(f"model.{name}.{method}", *params, context=context)

    def search_read(
        self,
        name: str,
        domain: list,
        fields: list[str],
        *,
        order: list | None = None,
        limit: int | None = None,
        context: dict | None = None,
    ) -> list[dict]:
        return self.model(name, "search_read", domain, 0, limit, order, fields, context=context)

    def _post(self, body: dict, *, auth: bool = True) -> Any:
        body = {"id": next(self._ids), **body}
        headers = {"Content-Type": "application/json"}
        if auth and self._session is not None:
            token = base64.b64encode(
                f"{self.login}:{self._user_id}:{self._session}".encode()
            ).decode()
            headers["Authorization"] = f"Session {token}"
        raw = json.dumps(encode(body), separators=(",", ":")).encode()
        try:
            response = self.client.post(self.url, content=raw, headers=headers)
        except httpx.TimeoutException as exc:
            raise TrytonError(f"timeout: {exc!r}", permanent=False, code="timeout") from exc
        except httpx.HTTPError as exc:
            raise TrytonError(
                f"connection error: {exc!r}", permanent=False, code="connection"
            ) from exc
        status = response.status_code
        if status in (401, 403) and auth:
            raise TrytonError(
                f"HTTP {status}: session refused", permanent=False, code="session_expired"
            )
        if status == 429 or status >= 500 or status == 408:
            raise TrytonError(
                f"HTTP {status}: {response.text[:300]}",
                permanent=False,
                code="http_transient",
                status_code=status,
            )
        if status != 200:
            raise TrytonError(
                f"HTTP {status}: {response.text[:300]}",
                permanent=True,
                code="auth_failed" if status in (401, 403) else "http_permanent",
                status_code=status,
            )
        try:
            answer = response.json()
        except ValueError:
            raise TrytonError(
                f"not JSON: {response.text[:300]}", permanent=False, code="bad_response"
            ) from None
        if not isinstance(answer, dict):
            raise TrytonError("answer is not a JSON object", permanent=False, code="bad_response")
        error = answer.get("error")
        if error:
            name = error[0] if isinstance(error, list) and error else str(error)
            detail = error[1] if isinstance(error, list) and len(error) > 1 else ""
            if isinstance(detail, list) and detail:
                detail = " ".join(str(d) for d in detail[:2] if d)
            if name in TRANSIENT_ERRORS:
                raise TrytonError(f"{name}: {detail}", permanent=False, code="concurrency")
            if name in ("LoginException", "RateLimitException"):
                raise TrytonError(
                    f"{name}: login of {self.login!r} refused", permanent=True, code="auth_failed"
                )
            if name in USER_ERRORS:
                raise TrytonError(f"{name}: {detail}", permanent=True, code="user_error")
            raise TrytonError(f"{name}: {detail}", permanent=True, code="server_error")
        return decode(answer.get("result"))
