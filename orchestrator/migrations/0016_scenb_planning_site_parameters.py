"""Site parameters the planning packs read (``supply-risk``, ``line-stoppage``), created if
missing: a fresh installation without the demo must have them, or the rules that read
them fail (an error, never a silent false). The demo seed upserts the same keys."""

from django.db import migrations

PARAMETERS = [
    {
        "key": "asn.delay_risk_hours",
        "description": "ASN delay (hours) from which orders needing the material count as at risk",
        "value_type": "integer",
        "unit": "h",
        "default_value": "24",
        "minimum": 0,
    },
    {
        "key": "downtime.risk_minutes",
        "description": "Stoppage of a constrained work center (minutes) from which its orders "
        "count as at risk",
        "value_type": "integer",
        "unit": "min",
        "default_value": "30",
        "minimum": 0,
    },
]


def create(apps, schema_editor):
    SiteParameter = apps.get_model("plants", "SiteParameter")
    for row in PARAMETERS:
        row = dict(row)
        SiteParameter.objects.get_or_create(key=row.pop("key"), defaults=row)


class Migration(migrations.Migration):
    dependencies = [
        ("orchestrator", "0015_scenb_scrap_window_exposures"),
        ("plants", "0005_scenb_need_dates_alternate_routings"),
    ]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
