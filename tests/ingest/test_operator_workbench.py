"""The operator workbench page (issue 8, item 6): open exceptions grouped with counts and
oldest age, a group replayed or discarded at once (with a reason and a rate limit),
edit-then-replay (original kept, diff recorded, four eyes where the plant asks), and
resolved items leave the list."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from interlock.errors import DomainError, NotAllowed
from orchestrator.models import AuditRecord, InboundMessage, PayloadEdit
from orchestrator.selectors_workbench import workbench_group, workbench_groups
from orchestrator.services.replay import (
    BULK_ACTIONS_PER_MINUTE,
    group_act,
    message_edit,
    message_edit_approve,
)
from plants.choices import Role
from plants.models import Item, ItemMapping, SiteParameter, SiteParameterOverride
from tests.factories import ItemFactory, make_member
from tests.ingest.conftest import DAY
from tests.ingest.test_workbench import UNMAPPED, quarantined_release

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()


@pytest.fixture
def ops(world):
    return {
        "op": make_member(Role.OPERATOR, world["p1"], username="op-p1"),
        "op2": make_member(Role.OPERATOR, world["p1"], username="op2-p1"),
        "op_p2": make_member(Role.OPERATOR, world["p2"], username="op-p2"),
    }


def _map_the_item(world):
    from plants.services.mapping import mapping_cache

    item = ItemFactory(code="FG-9999", base_uom=Item.objects.get(code="FG-1000").base_uom)
    ItemMapping.objects.create(plant=world["p1"], plant_code=UNMAPPED, item=item, valid_from=DAY)
    mapping_cache.clear()


def test_open_exceptions_are_grouped_with_counts_and_oldest_age(world, ops):
    first = quarantined_release(world, "WO-1")
    quarantined_release(world, "WO-2")
    [group] = workbench_groups(user=ops["op"])
    assert (group.kind, group.reason, group.plant, group.system, group.event_type) == (
        "message",
        "mapping_missing",
        "P1",
        "ERP",
        "production_order.released",
    )
    assert group.count == 2
    assert group.oldest == first.received_at
    assert workbench_groups(user=ops["op_p2"]) == []  # another plant's operator sees nothing


def test_a_group_is_replayed_after_the_fix_and_leaves_the_list(world, ops):
    originals = [quarantined_release(world, f"WO-{n}") for n in (1, 2, 3)]
    [group] = workbench_groups(user=ops["op"])
    with pytest.raises(DomainError, match="Say why"):
        group_act(items=group.items, action="replay", actor=ops["op"], reason=" ")
    _map_the_item(world)
    done, refused = group_act(
        items=group.items, action="replay", actor=ops["op"], reason="item mapping added"
    )
    assert refused == []
    assert [m.status for m in done] == ["accepted"] * 3
    # The originals keep their status as history, but no longer need attention.
    assert {m.status for m in InboundMessage.objects.filter(pk__in=[m.pk for m in originals])} == {
        "quarantined"
    }
    assert workbench_groups(user=ops["op"]) == []
    assert workbench_group(user=ops["op"], key=group.key) is None


def test_a_group_is_discarded_with_a_reason(world, ops):
    for n in (1, 2):
        quarantined_release(world, f"WO-{n}")
    [group] = workbench_groups(user=ops["op"])
    done, _ = group_act(items=group.items, action="discard", actor=ops["op"], reason="test data")
    assert len(done) == 2
    assert AuditRecord.objects.filter(transition="discard", reason="test data").count() == 2
    assert workbench_groups(user=ops["op"]) == []


def test_bulk_actions_are_rate_limited(world, ops):
    quarantined_release(world, "WO-1")
    [group] = workbench_groups(user=ops["op"])
    for _ in range(BULK_ACTIONS_PER_MINUTE):
        group_act(items=[], action="replay", actor=ops["op"], reason="try")
    with pytest.raises(DomainError, match="bulk actions a minute") as exc:
        group_act(items=group.items, action="replay", actor=ops["op"], reason="again")
    assert exc.value.http_status == 429


def test_edit_then_replay_keeps_the_original_and_records_the_diff(world, ops):
    message = quarantined_release(world, "WO-1")
    received = message.body
    fixed = {**received, "payload": {**received["payload"], "item": "000000000000001000"}}
    edit = message_edit(message=message, body=fixed, actor=ops["op"], reason="typo in item")
    assert edit.state == "replayed"
    assert edit.replay.status == "accepted"
    assert edit.replay.replay_of == message
    assert edit.diff == [
        {"path": "payload.item", "before": UNMAPPED, "after": "000000000000001000"}
    ]
    message.refresh_from_db()
    assert message.body == received  # the original, as received
    assert workbench_groups(user=ops["op"]) == []
    assert AuditRecord.objects.filter(transition="edit", object_id=str(message.pk)).exists()


def test_edit_then_replay_needs_a_second_operator_where_the_plant_asks(world, ops):
    SiteParameterOverride.objects.create(
        parameter=SiteParameter.objects.get(key="workbench.edit_replay_four_eyes"),
        plant=world["p1"],
        value="true",
        reason="checked by two",
    )
    message = quarantined_release(world, "WO-1")
    fixed = {**message.body, "payload": {**message.body["payload"], "item": "000000000000001000"}}
    edit = message_edit(message=message, body=fixed, actor=ops["op"], reason="typo")
    assert edit.state == "pending"
    assert edit.replay is None
    with pytest.raises(NotAllowed, match="four eyes"):
        message_edit_approve(edit=edit, actor=ops["op"])
    with pytest.raises(NotAllowed):
        message_edit_approve(edit=edit, actor=ops["op_p2"])  # not at this plant
    done = message_edit_approve(edit=edit, actor=ops["op2"])
    assert done.approved_by == ops["op2"]
    assert done.replay.status == "accepted"
    assert PayloadEdit.objects.get().state == "replayed"


def test_the_workbench_pages(world, ops, client):
    quarantined_release(world, "WO-1")
    client.force_login(ops["op"])
    page = client.get("/admin/orchestrator/inboundmessage/workbench/")
    assert page.status_code == 200
    [group] = workbench_groups(user=ops["op"])
    assert group.key in page.content.decode()
    url = f"/admin/orchestrator/inboundmessage/workbench/{group.key}/"
    assert client.get(url).status_code == 200
    assert (
        client.get("/admin/orchestrator/inboundmessage/workbench/bm90LWEta2V5/").status_code == 404
    )
    _map_the_item(world)
    response = client.post(url, {"action": "replay", "reason": "mapping added"})
    assert response.status_code == 302
    assert workbench_groups(user=ops["op"]) == []


def test_stalled_gates_overdue_approvals_and_dead_letters_are_groups_too(world, ops):
    import datetime as dt

    from django.utils import timezone

    from orchestrator.models import ApprovalRequest, Gate, OutboxMessage
    from orchestrator.selectors_workbench import GATE_STALL_AFTER

    now = timezone.now()
    p1 = world["p1"]
    old = Gate.objects.create(plant=p1, kind="goods_receipt", waits_for="inspection INS-1")
    Gate.objects.filter(pk=old.pk).update(state_changed_at=now - GATE_STALL_AFTER * 2)
    fresh = Gate.objects.create(plant=p1, kind="goods_receipt", waits_for="inspection INS-2")
    Gate.objects.filter(pk=fresh.pk).update(state_changed_at=now)
    ApprovalRequest.objects.create(
        plant=p1,
        role="planning",
        reason="short completion",
        correlation_id="c1",
        due_at=now - dt.timedelta(hours=1),
        created_at=now - dt.timedelta(hours=5),
    )
    ApprovalRequest.objects.create(
        plant=p1,
        role="planning",
        reason="not due yet",
        correlation_id="c2",
        due_at=now + dt.timedelta(hours=1),
        created_at=now,
    )
    OutboxMessage.objects.create(
        plant=p1,
        target_system="erp",
        system=world["erp"],
        message_type="goods_receipt",
        idempotency_key="k1",
        correlation_id="c3",
        status="dead",
        created_at=now,
        last_error="HTTP 422: unknown order",
    )
    groups = {g.kind: g for g in workbench_groups(user=ops["op"], now=now)}
    assert set(groups) == {"gate", "approval", "dead"}
    assert [g.pk for g in groups["gate"].items] == [old.pk]
    assert groups["approval"].count == 1
    assert groups["approval"].reason == "planning"
    assert groups["dead"].reason == "HTTP 422"
    assert workbench_groups(user=ops["op_p2"], now=now) == []
