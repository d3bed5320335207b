"""The OpenAPI contract, checked by Schemathesis against the live schema (issue 11, 12).

Every operation of ``/api/schema/`` is called with generated valid input, once as a
connected system (API key) and once as a staff user, on a live server. The run passes
only with no server error and no schema violation: every status, content type, body and
header must be the documented ones.

Time-bounded: ``INTERLOCK_CONTRACT_EXAMPLES`` examples per operation (default 5), no
shrinking, a fixed seed; about a minute on the CI machine.
"""

from __future__ import annotations

import base64
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import ConnectedSystemFactory, PlantFactory, UserFactory, issue_api_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("INTERLOCK_CONTRACT_EXAMPLES", "5"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _run_operation(
    operation, label: str, base_url: str, headers: dict[str, str]
) -> tuple[int, str]:
    """Call one operation ``EXAMPLES`` times; return the calls made and the first failure."""
    calls, failure = 0, ""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        nonlocal calls, failure
        if failure:
            return
        calls += 1
        try:
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # keep the first, to reproduce
            failure = f"{label}: {str(exc)[:1500]}"

    call()
    return calls, failure


def _run(schema, base_url: str, headers: dict[str, str], who: str) -> tuple[int, list[str]]:
    """Call every operation; return the number of calls and one failure per operation."""
    failures: list[str] = []
    total = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{who} {operation.method.upper()} {operation.path}"
        calls, failure = _run_operation(operation, label, base_url, headers)
        total += calls
        if failure:
            failures.append(failure)
    return total, failures


@pytest.fixture
def parties(live_server, settings):
    # Basic auth checks the password on every call: PBKDF2 would be most of the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    plant = PlantFactory(code="P1")
    system = ConnectedSystemFactory(kind="mes", code="MES-P1")
    system.plants.set([plant])
    key = issue_api_key(system)
    staff = UserFactory(username="contract-staff", is_staff=True, is_superuser=True)
    staff.set_password("contract-pass")
    staff.save()
    basic = base64.b64encode(b"contract-staff:contract-pass").decode()
    return {
        "system": {"Authorization": f"Api-Key {key}"},
        "staff": {"Authorization": f"Basic {basic}"},
    }


def test_every_operation_keeps_the_contract(live_server, parties):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    total = 0
    failures: list[str] = []
    for who, headers in parties.items():
        calls, found = _run(schema, live_server.url, headers, who)
        total += calls
        failures += found
    assert total > 100, f"only {total} calls were made"
    assert not failures, f"{len(failures)} operations broke the contract:\n\n" + "\n\n".join(
        failures
    )
