"""The SLA targets as site parameters (global default; plants override them in the admin
like every other parameter). Created if missing, never overwritten."""

from django.db import migrations

PARAMETERS = [
    {
        "key": "sla.delivery.target",
        "description": "SLA: an outbox message is delivered to its target system within this "
        "time after it was queued",
        "default_value": "300",
    },
    {
        "key": "sla.acknowledgment.target",
        "description": "SLA: the MES acknowledges a released production order within this time",
        "default_value": "900",
    },
    {
        "key": "sla.exception_triage.target",
        "description": "SLA: a quarantined, rejected or escalated item is handled (replayed or "
        "discarded) within this time",
        "default_value": "3600",
    },
    {
        "key": "sla.reconciliation.target",
        "description": "SLA: a reconciliation difference is closed within this time",
        "default_value": "86400",
    },
]


def create(apps, schema_editor):
    SiteParameter = apps.get_model("plants", "SiteParameter")
    for row in PARAMETERS:
        row = dict(row)
        SiteParameter.objects.get_or_create(
            key=row.pop("key"),
            defaults={**row, "value_type": "duration", "unit": "s", "minimum": 1},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("observability", "0001_initial"),
        ("plants", "0002_postgres_no_overlapping_validity"),
    ]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
