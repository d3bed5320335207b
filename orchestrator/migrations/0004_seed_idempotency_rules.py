"""Seed the business keys of every event type (configuration as data, editable later)."""

from django.db import migrations

DEFAULTS = [
    ('production_order.released', ['plant', 'order'], None),
    ('production_order.acknowledged', ['plant', 'order'], None),
    ('operation.started', ['source', 'plant', 'order', 'operation'], None),
    ('operation.paused', ['source', 'plant', 'order', 'operation'], 1),
    ('operation.confirmed', ['source', 'plant', 'order', 'operation', 'sequence'], None),
    ('material.issued', ['plant', 'order', 'lot', 'item', 'equipment'], 60),
    ('scrap.declared', ['source', 'plant', 'order', 'operation', 'reason'], 60),
    ('production.completed', ['plant', 'order', 'lot'], None),
    ('inspection.requested', ['plant', 'inspection'], None),
    ('inspection.recorded', ['plant', 'inspection', 'result'], None),
    ('nonconformance.opened', ['plant', 'nonconformance'], None),
    ('nonconformance.closed', ['plant', 'nonconformance'], None),
    ('lot.status_changed', ['plant', 'lot', 'status'], 1),
    ('goods_receipt.posted', ['plant', 'order', 'document'], None),
    ('cycle_count.recorded', ['plant', 'count'], None),
    ('asn.received', ['plant', 'asn'], None),
    ('asn.delayed', ['plant', 'asn', 'expected_at'], None),
    ('machine.downtime', ['source', 'plant', 'work_center', 'started_at'], None),
]


def seed(apps, schema_editor):
    rule = apps.get_model("orchestrator", "IdempotencyRule")
    for event_type, fields, bucket in DEFAULTS:
        rule.objects.get_or_create(
            event_type=event_type,
            defaults={"fields": fields, "time_bucket_seconds": bucket, "description": "shipped default"},
        )


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0003_event_log")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
