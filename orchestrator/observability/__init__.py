"""Observability: rollups, Prometheus metrics, dashboards, SLA targets and breaches.

A Django app of its own (label ``observability``) inside the orchestrator package, so its
tables and migrations never collide with the orchestrator's while it reads the
orchestrator's tables (events, outbox, gates, approvals) set-wise.

Design, in one paragraph: nothing on the ingest or delivery hot path writes a metric.
A beat task (``observability.rollup``) aggregates the rows that settled since its
watermark into per-minute rollup tables with one ``INSERT … SELECT … GROUP BY … ON
CONFLICT DO UPDATE`` per source; the dashboards and the Prometheus counters read those
tables, and the gauges are computed from current state at scrape time. PostgreSQL is
therefore the only place a number lives, and every gunicorn or Celery process answers the
same (see ``metrics``).
"""
