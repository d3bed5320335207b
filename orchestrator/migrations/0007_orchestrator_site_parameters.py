"""Site parameters the orchestrator and the shipped rule packs read, created if missing.

The demo seed (``fixtures/demo/parameters.yaml``) upserts the same keys with their plant
overrides; a fresh installation without the demo must still have them, otherwise
sequencing has no park timeout and the completion rule no threshold.
"""

from django.db import migrations

PARAMETERS = [
    {
        "key": "sequencing.park_timeout",
        "description": "How long an out-of-sequence event waits for its predecessor before it "
        "is escalated",
        "value_type": "duration",
        "unit": "s",
        "default_value": "300",
        "minimum": 1,
    },
    {
        "key": "completion.threshold_pct",
        "description": "Confirmed quantity (percent of target) at which an order counts as "
        "complete",
        "value_type": "decimal",
        "unit": "%",
        "default_value": "98.0",
        "minimum": 0,
        "maximum": 200,
    },
    {
        "key": "scrap.spike_threshold_pct",
        "description": "Scrap rate (percent of good quantity) within the window that counts "
        "as a spike",
        "value_type": "decimal",
        "unit": "%",
        "default_value": "5.0",
        "minimum": 0,
        "maximum": 100,
    },
    {
        "key": "scrap.spike_window",
        "description": "Sliding window over which scrap is summed for spike detection",
        "value_type": "duration",
        "unit": "s",
        "default_value": "3600",
        "minimum": 60,
    },
]


def create(apps, schema_editor):
    SiteParameter = apps.get_model("plants", "SiteParameter")
    for row in PARAMETERS:
        row = dict(row)
        SiteParameter.objects.get_or_create(key=row.pop("key"), defaults=row)


class Migration(migrations.Migration):
    dependencies = [
        ("orchestrator", "0006_ingest_effects"),
        ("plants", "0002_postgres_no_overlapping_validity"),
    ]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
