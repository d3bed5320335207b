"""Simulation driver: a plant's stored events, with the context they were judged with.

Rules owns the comparison (:mod:`rules.simulation`) and must not import the orchestrator;
the orchestrator owns the event log and the business objects. So the orchestrator registers
:func:`stored_events` as the rules' event source (``OrchestratorConfig.ready``), and
:class:`history.PlantHistory` rebuilds each event's context (order, lot, inspection, plant
parameters as of then, derived facts such as window sums) before rules evaluates it.
"""

from __future__ import annotations

from .events import stored_events

__all__ = ["stored_events"]
