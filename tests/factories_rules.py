"""Helpers for rules tests: documents and versions moved through their lifecycle."""

from __future__ import annotations

from plants.choices import Role
from rules import services
from tests.factories import make_member


def threshold_doc(threshold: float, *, expect_hold_at: float | None = None) -> str:
    """A small rule set: hold the goods-receipt gate when qty exceeds ``threshold``."""
    probe = expect_hold_at if expect_hold_at is not None else threshold + 1
    return f"""\
schema: interlock/ruleset/v1
ruleset: receipt-gate
owner: governance-board
rules:
  - id: big_confirmation
    description: Large confirmations hold the goods receipt
    owner: governance-board
    on: [operation.confirmed]
    when: event.qty > {float(threshold)}
    then:
      - action: hold_gate
        params: {{gate: goods_receipt}}
tests:
  - name: large confirmation holds the gate
    event_type: operation.confirmed
    event: {{qty: {float(probe)}}}
    expect: {{actions: [hold_gate]}}
"""


def board(name: str):
    return make_member(Role.GOVERNANCE_BOARD, None, username=name)


def published(source: str, *, author, approver, plants=None):
    version = services.ruleset_version_create(source=source, author=author)
    services.ruleset_version_submit(version=version, actor=author)
    services.ruleset_version_approve(version=version, approver=approver)
    services.ruleset_version_publish(version=version, actor=approver, plants=plants)
    version.refresh_from_db()
    return version


def limit_doc(limit: int, *, notify_over: int | None = None) -> str:
    """Quarantine a release of more than ``limit``; optionally tell planning about a
    release over ``notify_over`` instead."""
    notify = ""
    if notify_over is not None:
        notify = f"""
  - id: large_release_noted
    description: Planning hears of large releases
    owner: governance-board
    on: [production_order.released]
    when: event.qty > {float(notify_over)}
    then:
      - action: notify_role
        params: {{role: planning, message: a large release}}"""
    return f"""\
schema: interlock/ruleset/v1
ruleset: release-limit
owner: governance-board
rules:
  - id: release_over_limit
    description: Releases over the limit are quarantined
    owner: governance-board
    on: [production_order.released]
    when: event.qty > {float(limit)}
    then:
      - action: quarantine_event
        params: {{reason: release over the limit}}{notify}
tests:
  - name: over the limit
    event_type: production_order.released
    event: {{qty: {float(limit + 1)}}}
    expect: {{actions: [quarantine_event{", notify_role" if notify_over is not None else ""}]}}
"""


def approved(source: str, *, author, approver, plant=None):
    version = services.ruleset_version_create(source=source, author=author, plant=plant)
    services.ruleset_version_submit(version=version, actor=author)
    services.ruleset_version_approve(version=version, approver=approver)
    version.refresh_from_db()
    return version
