"""Controlled ingest: from a connected system's message to a controlled state change.

``pipeline.ingest_batch`` is the single entry point (the single-event endpoint is a batch
of one). Stages, in order: store raw (own commit) → envelope and scope checks → structural
validation against the canonical JSON Schema → site mapping → idempotency claim (one
``INSERT … ON CONFLICT DO NOTHING`` per batch) → master-data checks, sequencing and
lifecycle transitions through the handlers → statuses written back. See ``pipeline.py``.
"""
