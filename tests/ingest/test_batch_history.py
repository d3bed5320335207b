"""A batch written set-wise leaves the same history and audit trail as saving one by one."""

from __future__ import annotations

from orchestrator.ingest.pipeline import ingest_batch, principal_for
from orchestrator.models import AuditRecord, Lot, ProductionOrder
from tests.ingest.flow import run, steel_lot


def _ingest_in_batches(world) -> None:
    """Scenario 1 with every run of consecutive same-system envelopes as ONE batch (the
    acknowledgment, issue and confirmations of the MES arrive together)."""
    steps = run()
    groups: list[tuple[str, list[dict]]] = []
    for key_name, body in steps:
        if groups and groups[-1][0] == key_name:
            groups[-1][1].append(body)
        else:
            groups.append((key_name, [body]))
    systems = {"erp_key": world["erp"], "mes_key": world["mes"]}
    for key_name, bodies in groups:
        ingest_batch(principal=principal_for(systems[key_name]), envelopes=bodies)


def test_a_batch_write_leaves_a_history_row_per_audited_state_and_ends_at_the_stored_row(
    world,
):
    steel_lot(world)
    _ingest_in_batches(world)

    order = ProductionOrder.objects.get(number="WO-1001")
    audits = list(
        AuditRecord.objects.filter(
            content_type__model="productionorder", object_id=str(order.pk)
        ).order_by("pk")
    )
    history = list(order.history.order_by("history_id"))

    # Several transitions of the order were applied in batches and written set-wise.
    creation, transitions = audits[0], audits[1:]
    assert len(transitions) >= 5
    assert (creation.transition, history[0].history_type, history[0].state) == (
        "create",
        "+",
        "created",
    )
    changes = [h for h in history if h.history_type == "~"]
    # Each audited transition has its history row, in order, with the state it reached.
    assert [h.state for h in changes[: len(transitions)]] == [a.target_state for a in transitions]
    for audit in audits:
        assert audit.actor_label in ("system:ERP", "system:MES-P1")
        assert audit.correlation_id
    # History ends at what is stored (confirmed quantities included), attributed to the
    # connected system, and never to a person.
    last = history[-1]
    assert (last.state, last.confirmed_qty, last.scrapped_qty) == (
        order.state,
        order.confirmed_qty,
        order.scrapped_qty,
    )
    assert {h.history_user_id for h in history} == {None}
    assert {h.history_change_reason for h in changes} <= {"system:ERP", "system:MES-P1"}


def test_a_lot_moved_by_a_batch_has_a_history_row_per_audited_state(world):
    steel_lot(world)
    _ingest_in_batches(world)

    lot = Lot.objects.get(number="FG-WO-1001")  # made by the completion, then released
    audits = list(
        AuditRecord.objects.filter(content_type__model="lot", object_id=str(lot.pk))
        .exclude(transition="create")
        .order_by("pk")
    )
    changes = list(lot.history.filter(history_type="~").order_by("history_id"))
    assert audits, "the scenario moves the finished lot's status"
    assert [h.status for h in changes] == [a.target_state for a in audits]
    assert (changes[-1].status, changes[-1].qty) == (lot.status, lot.qty)
