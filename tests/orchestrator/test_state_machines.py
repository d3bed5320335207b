"""Every lifecycle, driven by Hypothesis: from whatever state the object is in, try any
transition. Allowed ones move state as the spec below says and write exactly one audit
record; illegal ones raise ``IllegalTransition`` and leave state and audit untouched.

The expected tables are written out by hand, independently of the models' decorators,
so a transition added, removed or retargeted by mistake fails here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from orchestrator.models import AuditRecord
from orchestrator.services.lifecycle import IllegalTransition, transition_apply
from tests.factories import PlantFactory
from tests.factories_orchestrator import (
    AsnFactory,
    CycleCountFactory,
    GoodsReceiptFactory,
    InspectionFactory,
    InspectionResultFactory,
    LotFactory,
    NonconformanceFactory,
    OperationFactory,
    ProductionOrderFactory,
)

pytestmark = pytest.mark.django_db

HELD = object()  # "the state the order was held in"
HOLDABLE = [
    "created",
    "released",
    "acknowledged",
    "in_process",
    "partially_confirmed",
    "completed",
    "quality_pending",
]


@dataclass
class Spec:
    """A lifecycle as the domain describes it: transition → {source: target}."""

    make: Any  # (variant: bool) -> object
    initial: str
    table: dict[str, dict[str, Any]]
    #: transition → predicate(variant) that must hold for the guard to pass.
    guards: dict[str, Any] = field(default_factory=dict)
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def expect(self, state: str, name: str, variant: bool, held: str | None) -> str | None:
        target = self.table[name].get(state)
        if target is None or not self.guards.get(name, lambda v: True)(variant):
            return None
        return held if target is HELD else target


def _plant():
    return PlantFactory(code="P1")


ORDER = Spec(
    make=lambda variant: ProductionOrderFactory(plant=_plant()),
    initial="created",
    table={
        "release": {"created": "released"},
        "acknowledge": {"released": "acknowledged"},
        "start": {"acknowledged": "in_process"},
        "confirm_partially": {"in_process": "partially_confirmed"},
        "complete": {"in_process": "completed", "partially_confirmed": "completed"},
        "await_quality": {"completed": "quality_pending"},
        "post_financially": {"quality_pending": "financially_posted"},
        "hold": dict.fromkeys(HOLDABLE, "on_hold"),
        "resume": {"on_hold": HELD},
        "cancel": dict.fromkeys(["created", "released", "acknowledged", "on_hold"], "cancelled"),
        "rework": {"quality_pending": "in_process"},
        "close": {"quality_pending": "closed"},
    },
    # Only an approved quality disposition lets the order leave quality pending this way
    # (tests/ingest/test_dispositions.py); the factory's order has none.
    guards={"rework": lambda v: False, "close": lambda v: False},
)

OPERATION = Spec(
    make=lambda variant: OperationFactory(order=ProductionOrderFactory(plant=_plant())),
    initial="pending",
    table={
        "start": {"pending": "started"},
        "pause": {"started": "paused"},
        "resume": {"paused": "started"},
        "confirm": {"started": "confirmed", "paused": "confirmed"},
    },
)

# variant: the lot is past its expiry date.
LOT = Spec(
    make=lambda expired: LotFactory(
        plant=_plant(), expires_on=dt.date(2020, 1, 1) if expired else dt.date(2099, 1, 1)
    ),
    initial="available",
    table={
        "send_to_inspection": dict.fromkeys(
            ["available", "rework", "in_transit", "blocked"], "inspection"
        ),
        "release": {"inspection": "available", "blocked": "available"},
        "block": dict.fromkeys(
            ["available", "inspection", "rework", "in_transit", "consigned", "expired"], "blocked"
        ),
        "send_to_rework": {"inspection": "rework", "blocked": "rework"},
        "dispatch": {"available": "in_transit"},
        "receive": {"in_transit": "available"},
        "consign": {"available": "consigned"},
        "return_from_consignment": {"consigned": "available"},
        "expire": dict.fromkeys(["available", "inspection", "blocked", "consigned"], "expired"),
        "scrap": dict.fromkeys(["inspection", "blocked", "rework", "expired"], "scrapped"),
    },
    guards={
        "release": lambda expired: not expired,
        "receive": lambda expired: not expired,
        "return_from_consignment": lambda expired: not expired,
        "expire": lambda expired: expired,
    },
)


def _inspection(nonconforming: bool):
    inspection = InspectionFactory(plant=_plant())
    InspectionResultFactory(inspection=inspection, conforming=True)
    InspectionResultFactory(inspection=inspection, conforming=not nonconforming)
    return inspection


INSPECTION = Spec(
    make=_inspection,
    initial="requested",
    table={
        "start": {"requested": "in_progress"},
        "pass_inspection": {"in_progress": "passed"},
        "fail": {"in_progress": "failed"},
        "release_conditionally": {"in_progress": "conditionally_released"},
        "use_as_is": {"failed": "conditionally_released"},
    },
    guards={
        "pass_inspection": lambda nonconforming: not nonconforming,
        "use_as_is": lambda v: False,  # needs an approved use-as-is disposition
    },
)

NONCONFORMANCE = Spec(
    make=lambda variant: NonconformanceFactory(plant=_plant()),
    initial="opened",
    table={
        "start_review": {"opened": "under_review"},
        "decide": {"under_review": "disposition_decided"},
        "close": {"disposition_decided": "closed"},
    },
    updates={"decide": {"disposition": "rework"}},
)

GOODS_RECEIPT = Spec(
    make=lambda variant: GoodsReceiptFactory(plant=_plant()),
    initial="pending",
    table={"post": {"pending": "posted"}, "reverse": {"posted": "reversed"}},
)


# variant: the count differs from the books (posting straight away is then refused).


CYCLE_COUNT = Spec(
    make=lambda variance: CycleCountFactory(
        plant=_plant(), book_qty=Decimal(100), counted_qty=Decimal(97 if variance else 100)
    ),
    initial="recorded",
    table={
        "request_approval": {"recorded": "approval_pending"},
        "approve": {"approval_pending": "approved"},
        "accept_within_tolerance": {"recorded": "approved"},
        "reject": {"approval_pending": "rejected"},
        "post": {"recorded": "posted", "approved": "posted"},
    },
)

ASN = Spec(
    make=lambda variant: AsnFactory(plant=_plant()),
    initial="announced",
    table={
        "delay": {"announced": "delayed", "delayed": "delayed"},
        "receive": {"announced": "received", "delayed": "received"},
        "cancel": {"announced": "cancelled", "delayed": "cancelled"},
    },
)

SPECS = {
    "order": ORDER,
    "operation": OPERATION,
    "lot": LOT,
    "inspection": INSPECTION,
    "nonconformance": NONCONFORMANCE,
    "goods_receipt": GOODS_RECEIPT,
    "cycle_count": CYCLE_COUNT,
    "asn": ASN,
}


def machine_for(spec: Spec, *, special=None):
    names = sorted(spec.table)

    class LifecycleMachine(RuleBasedStateMachine):
        @initialize(variant=st.booleans())
        def create(self, variant):
            self.variant = variant
            self.obj = spec.make(variant)
            self.field = type(self.obj).lifecycle_field().name
            self.state = spec.initial
            self.held: str | None = None
            self.audits = 0

        @rule(data=st.data())
        def take_an_allowed_transition(self, data):
            # Walks deep into the lifecycle, so the "any transition" rule below gets tried
            # from late states too (random names alone rarely get past the first steps).
            allowed = [n for n in names if spec.expect(self.state, n, self.variant, self.held)]
            if special is not None:
                allowed = [n for n in allowed if special(self, n, True)]
            if allowed:
                self.try_transition(data.draw(st.sampled_from(allowed)))

        @rule(name=st.sampled_from(names))
        def try_transition(self, name):
            expected = spec.expect(self.state, name, self.variant, self.held)
            if special is not None:
                expected = special(self, name, expected)
            kwargs = {"updates": spec.updates[name]} if name in spec.updates else {}
            if expected is None:
                with pytest.raises(IllegalTransition):
                    transition_apply(obj=self.obj, transition=name, actor=None, **kwargs)
                return
            transition_apply(
                obj=self.obj, transition=name, actor="system:test", reason=f"try {name}", **kwargs
            )
            if name == "hold":
                self.held = self.state
            self.state = expected
            self.audits += 1
            last = AuditRecord.objects.for_object(self.obj).first()
            assert (last.transition, last.target_state) == (name, expected)

        @invariant()
        def database_matches_the_spec(self):
            if not hasattr(self, "obj"):
                return
            fresh = type(self.obj).objects.get(pk=self.obj.pk)
            assert getattr(fresh, self.field) == self.state
            assert getattr(self.obj, self.field) == self.state
            assert AuditRecord.objects.for_object(self.obj).count() == self.audits

    return LifecycleMachine


def _cycle_count_guard(machine, name, expected):
    # Posting straight from "recorded" needs a count that matches the books.
    if name == "post" and machine.state == "recorded" and machine.variant:
        return None
    return expected


MACHINE_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_lifecycle_follows_its_spec(name):
    special = _cycle_count_guard if name == "cycle_count" else None
    run_state_machine_as_test(machine_for(SPECS[name], special=special), settings=MACHINE_SETTINGS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_names_every_declared_transition_and_state(name):
    """The hand-written table and the model agree on the set of transitions and states."""
    from orchestrator.models import LIFECYCLE_MODELS
    from orchestrator.services.lifecycle import model_transitions, transition_targets

    model = LIFECYCLE_MODELS[name]
    declared = {(t.name, str(t.source)) for t in model_transitions(model)}
    spec_pairs = {(t, s) for t, sources in SPECS[name].table.items() for s in sources}
    assert declared == spec_pairs
    states = {str(v) for v, _ in model.lifecycle_field().choices}
    reached = {SPECS[name].initial} | {
        target for t in model_transitions(model) for target in transition_targets(t)
    }
    assert reached == states  # no state is unreachable
