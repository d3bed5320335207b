"""Canonical business objects, their lifecycles, the audit trail (and later: the event log,
idempotency ledger, gates, outbox, exceptions and reconciliation)."""
