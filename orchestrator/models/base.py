"""Shared bits of orchestrator models: the lifecycle base class and permission names."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMFieldMixin

#: Operators / integration support: act on stuck objects (hold, resume, manual transitions).
PERM_HANDLE_EXCEPTIONS = "orchestrator.handle_exceptions"
#: Quality lead: let an object through a gate that would stop it, with a reason.
PERM_OVERRIDE_GATE = "orchestrator.override_gate"
#: Quality lead: decide and approve dispositions of inspected material.
PERM_DECIDE_DISPOSITION = "orchestrator.decide_disposition"


def ledger_reference(to, *, on_delete, **kwargs) -> models.ForeignKey:
    """A reference from a ledger row: a ``ForeignKey`` without a database constraint.

    The rows written for every event (inbound messages, events, outbox messages and their
    delivery attempts, confirmations, material issues, audit records) point at rows that are
    never deleted: plants, systems, items, units, users and content types are governed master
    data (deactivated, not deleted), and events, orders, operations and lots are the ledger
    itself. A foreign-key constraint would check each reference again at commit (PostgreSQL's
    ``RI_FKey_check_ins``: one query per row and reference, ``FOR KEY SHARE`` on the parent
    row), and every batch would share-lock the same handful of plant and system rows. Measured
    on ``bench profile --batch 200``: PostgreSQL 0.18-0.20 → 0.14 CPU-ms per event. What the
    constraints guarded stays guarded: the references are written from rows the same
    transaction read, Django's ``on_delete`` (``PROTECT``, ``CASCADE``) is enforced by the ORM
    whether or not the database has a constraint, and ``manage.py ledger_verify`` (also run
    by the test suite) checks every reference built here and reports one whose row is
    missing.
    """
    return models.ForeignKey(to, on_delete=on_delete, db_constraint=False, **kwargs)


#: Quantities: up to 12 integer digits and 6 decimals covers pieces, kilograms and metres.
QTY = {"max_digits": 18, "decimal_places": 6}


def qty_field(**kwargs) -> models.DecimalField:
    """A non-negative quantity column."""
    kwargs.setdefault("validators", [MinValueValidator(0)])
    return models.DecimalField(**QTY, **kwargs)


class LifecycleModel(ConcurrentTransitionMixin, models.Model):
    """Base of every business object with a django-fsm lifecycle.

    The state field is ``protected``: only transition methods change it, and
    ``orchestrator.services.lifecycle.transition_apply`` is the only caller of those (it
    locks the row, saves and writes the audit record). ``ConcurrentTransitionMixin`` adds
    a second line of defence: a save whose row changed state since it was read fails.
    ``state_changed_at`` answers "since when does this order wait?".
    """

    state_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def clean_fields(self, exclude=None) -> None:
        # Model.clean_fields() writes each cleaned value back with setattr, which a
        # protected FSM field refuses; the state needs no cleaning anyway, because only
        # declared transitions ever set it.
        protected = {f.name for f in self.fsm_fields() if f.protected}
        super().clean_fields(exclude=set(exclude or ()) | protected)

    @classmethod
    def fsm_fields(cls) -> list[FSMFieldMixin]:
        return [f for f in cls._meta.concrete_fields if isinstance(f, FSMFieldMixin)]

    @classmethod
    def lifecycle_field(cls) -> FSMFieldMixin:
        """The one lifecycle field of this model (each of ours has exactly one)."""
        return cls.fsm_fields()[0]

    @property
    def lifecycle_state(self) -> str:
        return getattr(self, self.lifecycle_field().name)


class PlantBound:
    """Business objects that carry their own ``plant`` foreign key."""

    plant_lookup = "plant"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}  # type: ignore[attr-defined]


class OrderBound:
    """Rows that belong to a production order and through it to a plant."""

    plant_lookup = "order__plant"

    def scope_plant_ids(self) -> set[int]:
        return {self.order.plant_id}  # type: ignore[attr-defined]
