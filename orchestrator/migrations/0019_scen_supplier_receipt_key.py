"""The business key of the new ``supplier_receipt.posted`` event (configuration as data,
like the other event types' in 0004)."""

from django.db import migrations


def seed(apps, schema_editor):
    rule = apps.get_model("orchestrator", "IdempotencyRule")
    rule.objects.get_or_create(
        event_type="supplier_receipt.posted",
        defaults={
            "fields": ["plant", "receipt"],
            "time_bucket_seconds": None,
            "description": "shipped default",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0018_scen_exposure_proposals")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
