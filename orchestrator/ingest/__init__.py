"""Controlled ingest: from a connected system's message to a controlled state change.

``pipeline.ingest_batch`` is the single entry point (the single-event endpoint is a batch
of one; ``coalesce`` groups concurrent single requests into one). Stages, in order:
envelope and scope checks, structural validation against the canonical JSON Schema and
site mapping (``envelope.py``) → idempotency claim (advisory locks on the new keys, one
``INSERT … ON CONFLICT DO NOTHING`` per batch, ``ledger.py``) → master-data checks,
sequencing and lifecycle transitions through the handlers → the messages stored with their
outcome, in the decision's transaction on PostgreSQL. See ``pipeline.py``.
"""
