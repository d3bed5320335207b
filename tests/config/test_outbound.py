"""Outbound: the plant's own codes on the way out, and OAuth2 client credentials with
token refresh against a tiny token endpoint."""

from __future__ import annotations

import base64
import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.outbound import oauth2
from connectors.outbound.base import ConnectorError, OutboundMessage
from connectors.outbound.mapping import to_plant_codes
from connectors.outbound.rest import RestConnector
from connectors.simulators.world import load_world
from plants.models import ConnectedSystem
from tests.factories import (
    ItemFactory,
    ItemMappingFactory,
    UomFactory,
    UomMappingFactory,
    WorkCenterFactory,
    WorkCenterMappingFactory,
)

pytestmark = pytest.mark.django_db


def message(payload: dict, type_: str = "production_order.release") -> OutboundMessage:
    return OutboundMessage(
        id=1, type=type_, idempotency_key="k-1", plant="P2", correlation_id="c", payload=payload
    )


def test_canonical_codes_and_quantities_go_out_in_the_plants_own(plant_p2):
    ea, kg = UomFactory(code="EA"), UomFactory(code="KG", dimension="mass")
    cmp = ItemFactory(code="CMP-4711", base_uom=ea)
    raw = ItemFactory(code="RAW-ST-200", base_uom=kg)
    ItemMappingFactory(plant=plant_p2, plant_code="BRKT-STD-A", item=cmp)
    ItemMappingFactory(plant=plant_p2, plant_code="ST-200", item=raw)
    UomMappingFactory(plant=plant_p2, plant_code="BX12", uom=ea, factor=Decimal(12))
    UomMappingFactory(plant=plant_p2, plant_code="PCS", uom=ea, factor=Decimal(1))
    UomMappingFactory(
        plant=plant_p2, plant_code="LB", uom=kg, factor=Decimal("0.45359237"), decimal_places=3
    )
    WorkCenterMappingFactory(
        plant=plant_p2,
        plant_code="Assembly Cell 2",
        work_center=WorkCenterFactory(plant=plant_p2, code="P2-ASSY-01"),
    )
    out = to_plant_codes(
        message(
            {
                "order": "WO-2-1",
                "item": "CMP-4711",
                "qty": 24,
                "uom": "EA",
                "operations": [{"operation": "0010", "work_center": "P2-ASSY-01"}],
                "components": [
                    {"item": "RAW-ST-200", "qty": 10, "uom": "KG"},
                    {"item": "NOT-MAPPED", "qty": 1, "uom": "EA"},
                ],
            }
        ),
        plant=plant_p2,
    )
    assert out.payload == {
        "order": "WO-2-1",
        "item": "BRKT-STD-A",
        "qty": 24,
        "uom": "PCS",  # pieces (factor 1), not boxes of 12
        "operations": [{"operation": "0010", "work_center": "Assembly Cell 2"}],
        "components": [
            {"item": "ST-200", "qty": 22.046, "uom": "LB"},
            {"item": "NOT-MAPPED", "qty": 1, "uom": "PCS"},  # kept, and logged
        ],
    }


def test_the_simulator_takes_plant_units_as_they_come():
    p2 = load_world()["P2"]
    assert p2.to_native(Decimal("22.046"), "LB", "LB") == Decimal("22.046")
    assert p2.to_native(10, "KG", "LB") == Decimal("22.046")  # canonical still understood
    assert p2.native_item("BRKT-STD-A") == "BRKT-STD-A"


class _Server:
    """A token endpoint (``/token``) and a receiver (``/messages``) that accepts only the
    token it issued last."""

    def __init__(self, lifetime: float = 300.0) -> None:
        self.lifetime = lifetime
        self.tokens_issued = 0
        self.valid: str | None = None
        self.seen: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                if self.path == "/token":
                    expected = "Basic " + base64.b64encode(b"interlock:s3cret").decode()
                    if self.headers.get("Authorization") != expected:
                        return self._answer(401, {"error": "invalid_client"})
                    assert "grant_type=client_credentials" in body
                    server.tokens_issued += 1
                    server.valid = f"tok-{server.tokens_issued}"
                    return self._answer(
                        200,
                        {
                            "access_token": server.valid,
                            "token_type": "Bearer",
                            "expires_in": server.lifetime,
                        },
                    )
                auth = self.headers.get("Authorization")
                server.seen.append(auth)
                if auth != f"Bearer {server.valid}":
                    return self._answer(401, {"error": "invalid_token"})
                return self._answer(200, {"status": "applied", "reference": "DOC-1"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    oauth2.forget_tokens()
    srv = _Server()
    yield srv
    srv.stop()
    oauth2.forget_tokens()


@pytest.fixture
def system(server, monkeypatch):
    monkeypatch.setenv("TEST_ERP_OAUTH", "interlock:s3cret")
    system = ConnectedSystem(
        code="ERP-OAUTH",
        name="ERP",
        kind="erp",
        base_url=server.url,
        auth_type="oauth2",
        token_url=f"{server.url}/token",
        credential_env="TEST_ERP_OAUTH",
    )
    system.full_clean()
    system.save()
    return system


def test_token_is_fetched_once_reused_and_refreshed_after_a_401(server, system):
    connector = RestConnector(system)
    try:
        for _ in range(3):
            assert connector.send([message({})])[0].status == "applied"
        assert server.tokens_issued == 1
        assert set(server.seen) == {"Bearer tok-1"}

        server.valid = "revoked-by-the-server"  # e.g. the receiver rotated its keys
        assert connector.send([message({})])[0].status == "applied"
        assert server.tokens_issued == 2
        assert server.seen[-2:] == ["Bearer tok-1", "Bearer tok-2"]
    finally:
        connector.close()


def test_token_is_refreshed_before_it_expires(server, system):
    server.lifetime = 1.0  # refreshed after half of it (the margin caps at half)
    connector = RestConnector(system)
    try:
        connector.send([message({})])
        time.sleep(0.6)
        connector.send([message({})])
        assert server.tokens_issued == 2
    finally:
        connector.close()


def test_a_refused_client_is_a_permanent_error_naming_the_token_endpoint(
    server, system, monkeypatch
):
    monkeypatch.setenv("TEST_ERP_OAUTH", "interlock:wrong")
    connector = RestConnector(system)
    try:
        with pytest.raises(ConnectorError) as info:
            connector.send([message({})])
    finally:
        connector.close()
    assert info.value.permanent
    assert info.value.code == "oauth2_refused"
    assert "token endpoint answered HTTP 401" in str(info.value)


def test_oauth2_needs_a_token_url():
    system = ConnectedSystem(
        code="X", name="X", kind="erp", auth_type="oauth2", credential_env="X_CRED"
    )
    with pytest.raises(Exception, match="token endpoint"):
        system.full_clean()


def test_connectors_share_one_tls_context_built_once(server, system, monkeypatch):
    """Building a TLS context loads the whole CA bundle (~21 CPU-ms): a delivery run builds
    a connector, so each run must reuse the process's context, and still deliver."""
    from connectors import httpclient

    built = []
    real = httpclient.httpx.create_ssl_context

    def counting(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(httpclient, "_context", None)
    monkeypatch.setattr(httpclient.httpx, "create_ssl_context", counting)
    for _ in range(3):
        connector = RestConnector(system)
        try:
            assert connector.send([message({})])[0].status == "applied"
        finally:
            connector.close()
    assert len(built) == 1
