"""How Interlock asks a connected system for its reconciliation snapshot (scenario 9).

``orchestrator.services.reconciliation_compare`` compares snapshots; this module fetches them
over the system's transport. REST systems answer ``GET {base_url}/snapshot?plant=<code>``
with the JSON documented there, authenticated like the outbound messages (bearer, basic,
HMAC of the empty body, OAuth2). The demo simulators implement it; an adapter for a real
ERP registers its own transport with ``register_snapshot_fetcher``.
"""

from __future__ import annotations

import httpx

from orchestrator.services.reconciliation_compare import SnapshotError, register_snapshot_fetcher

from .outbound.base import ConnectorError
from .outbound.rest import RestConnector


@register_snapshot_fetcher("rest")
def rest_snapshot(system, plant) -> dict:
    try:
        connector = RestConnector(system)
    except ConnectorError as exc:
        raise SnapshotError(str(exc)) from exc
    try:
        response = connector.client.get(
            "/snapshot", params={"plant": plant.code}, headers=connector._headers(b"")
        )
    except ConnectorError as exc:
        raise SnapshotError(str(exc)) from exc
    except httpx.HTTPError as exc:
        raise SnapshotError(f"{system.code} did not answer: {exc}") from exc
    finally:
        connector.close()
    if response.status_code != 200:
        raise SnapshotError(f"{system.code} answered {response.status_code}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError as exc:
        raise SnapshotError(f"{system.code} answered no JSON") from exc
