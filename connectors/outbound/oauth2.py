"""OAuth2 client credentials for outbound REST (``auth_type = oauth2``).

The connected system's ``token_url`` is its token endpoint; ``credential_env`` names the
variable (or ``*_FILE``) holding ``client_id:client_secret`` (an optional third part,
``:scope``, is sent as the scope). A token is fetched with the client-credentials grant
(RFC 6749 §4.4; client authenticated with HTTP basic, §2.3.1), kept per process and system
until shortly before ``expires_in`` runs out, and fetched again then, or at once when the
receiver answers 401 (revoked early): :class:`RestConnector` retries that request once
with a fresh token.

Failures say whether they are worth retrying: a token endpoint that refuses the client
(400/401/403, ``invalid_client``) is permanent, so messages go to the dead-letter queue
with the reason instead of hammering it; a timeout or 5xx is transient.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx

from .base import ConnectorError

#: Refresh this many seconds before the token expires (clock skew, request time).
EXPIRY_MARGIN_SECONDS = 30.0
#: Lifetime assumed when the endpoint does not say (``expires_in`` is only RECOMMENDED).
DEFAULT_LIFETIME_SECONDS = 300.0


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float  # time.monotonic()

    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at


_tokens: dict[tuple[int, str], Token] = {}
_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached token of this process (tests, credential rotation)."""
    with _lock:
        _tokens.clear()


def _client_credentials(secret: str, system) -> tuple[str, str, str]:
    client_id, sep, rest = secret.partition(":")
    client_secret, _, scope = rest.partition(":")
    if not sep or not client_id or not client_secret:
        raise ConnectorError(
            f"credential of {system.code} must be 'client_id:client_secret' for OAuth2",
            permanent=True,
            code="credential_invalid",
        )
    return client_id, client_secret, scope


def _fetch(system, secret: str, client: httpx.Client) -> Token:
    client_id, client_secret, scope = _client_credentials(secret, system)
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    try:
        response = client.post(
            system.token_url,
            data=data,
            auth=(client_id, client_secret),
            headers={"Accept": "application/json"},
        )
    except httpx.TimeoutException as exc:
        raise ConnectorError(f"token endpoint timeout: {exc!r}", code="oauth2_timeout") from exc
    except httpx.HTTPError as exc:
        raise ConnectorError(f"token endpoint: {exc!r}", code="oauth2_connection") from exc
    if response.status_code != 200:
        permanent = response.status_code in (400, 401, 403)
        raise ConnectorError(
            f"token endpoint answered HTTP {response.status_code}: {response.text[:300]}",
            permanent=permanent,
            status_code=response.status_code,
            code="oauth2_refused" if permanent else "oauth2_unavailable",
        )
    try:
        body = response.json()
        access_token = body["access_token"]
        lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
    except (ValueError, KeyError, TypeError):
        raise ConnectorError(
            f"token endpoint gave no access_token: {response.text[:300]}",
            code="oauth2_bad_response",
        ) from None
    margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 2)
    return Token(str(access_token), time.monotonic() + lifetime - margin)


def bearer_token(system, secret: str, client: httpx.Client, *, refresh: bool = False) -> str:
    """A valid access token for ``system`` (cached; fetched when missing, expired, or
    ``refresh`` after a 401)."""
    key = (system.pk, system.token_url)
    with _lock:
        token = _tokens.get(key)
    if token is None or refresh or not token.fresh():
        token = _fetch(system, secret, client)
        with _lock:
            _tokens[key] = token
    return token.access_token
