"""The lean HTTP path for single events, for an ASGI server (``interlock/asgi.py``).

``POST /api/v1/events`` is the hottest request Interlock serves: a plant's MES posts each
confirmation as it happens. Through Django's request cycle, middleware and DRF it costs
more CPU than deciding the event once several share a batch. Here, under uvicorn, the
*ordinary* single-event request is answered by a few lines of ASGI in front of Django:

- the API key is valid (``remembered_principal`` on the event loop when this process
  remembers it, else ``principal_for_key`` on the batch thread), the host is allowed, the
  body is within the limit and parses as JSON;
- the envelope joins the process's asyncio group commit (``AsyncGroupCommit``: one batch
  at a time on one thread and one database connection, the next batch growing meanwhile);
- the answer is built by ``rest.single_answer``, the same function the DRF view uses.

Everything else (no key or a refused one, a body that is not JSON or too large, a
foreign host, every other URL) is handed to Django unchanged, with the body already read
replayed to it: DRF authenticates, stores the unparseable message and answers with the
usual error shapes, and the OpenAPI contract stays the DRF view's.
"""

from __future__ import annotations

import orjson
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from rest_framework.exceptions import AuthenticationFailed

from interlock import jsonsafe
from orchestrator.ingest import intake
from orchestrator.ingest.coalesce import async_group_commit
from plants.api.authentication import principal_for_key, remembered_principal

from .rest import single_answer

SINGLE_PATH = "/api/v1/events"


def _api_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    authorization = x_api_key = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"x-api-key":
            x_api_key = value
    if authorization:  # as ApiKeyAuthentication: the Authorization header wins
        scheme, _, raw = authorization.decode("latin-1").partition(" ")
        return raw.strip() if scheme.lower() == "api-key" else None
    return x_api_key.decode("latin-1") if x_api_key else None


def _host_allowed(headers: list[tuple[bytes, bytes]]) -> bool:
    host = next((v.decode("latin-1") for n, v in headers if n == b"host"), "")
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


class IngestASGI:
    """ASGI application: the lean single-event path, Django for everything else."""

    def __init__(self, django_app) -> None:
        self.django = django_app

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != SINGLE_PATH:
            await self.django(scope, receive, send)
            return
        limit = settings.INTERLOCK_MAX_REQUEST_BYTES
        body, more = await self._read(receive, limit)
        headers = scope["headers"]
        raw_key = _api_key(headers)
        group = async_group_commit()
        principal = envelope = None
        # Over the limit, even when it came whole in one message: Django answers the 413.
        if raw_key and not more and len(body) <= limit and _host_allowed(headers):
            principal = remembered_principal(raw_key)
            if principal is None:
                # On the batch thread: a burst of new connections after a restart costs
                # one database connection per process, not one per request.
                try:
                    principal = await group.run_sync(principal_for_key, raw_key)
                except AuthenticationFailed:
                    principal = None  # Django answers with the usual 401 shape
        if principal is not None:
            try:
                doc, suspect = jsonsafe.loads(body)
            except jsonsafe.JsonError:
                principal = None  # Django's view names line and column, and keeps the body
            else:
                # The same screening as the DRF view (NUL, surrogates, depth, non-finite
                # numbers): a refused envelope is stored and answered by the pipeline.
                envelope = intake.screen(doc, suspect=suspect)
        if principal is None:
            await self.django(scope, _replay(body, more, receive), send)
            return
        result = await group.submit(principal, envelope)
        status, data = single_answer(result)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"vary", b"Authorization"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": orjson.dumps(data)})

    @staticmethod
    async def _read(receive, limit: int) -> tuple[bytes, bool]:
        """The body, read until it is complete or past ``limit`` bytes (the server may hand
        over more than ``limit`` in one message); ``more`` is True when the client has more
        to send (or disconnected): Django then reads the rest and answers."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False
            if size > limit:
                return b"".join(chunks), True


def _replay(body: bytes, more: bool, receive):
    """A ``receive`` that gives Django the part of the body already read, then the rest."""
    sent = False

    async def replayed() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replayed
