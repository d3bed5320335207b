"""Site parameters of gate timeouts and reconciliation, created if missing (the demo seed
upserts the same keys with plant overrides)."""

from django.db import migrations

_GATE_KINDS = [
    # kind, timeout (s), escalation role, what it waits for
    ("default", "86400", "plant_admin", "any gate kind without its own parameter"),
    ("goods_receipt", "14400", "quality_lead", "the goods receipt waiting for inspection"),
    ("mes_acknowledgment", "3600", "supervisor", "the MES acknowledging a released order"),
    ("approval", "86400", "plant_admin", "a person's approval"),
]

PARAMETERS = []
for kind, seconds, role, what in _GATE_KINDS:
    PARAMETERS.append(
        {
            "key": f"gate.timeout.{kind}",
            "description": f"Gate timeout for {what}: closed longer than this opens a task "
            "for the escalation role (0 = never)",
            "value_type": "duration",
            "unit": "s",
            "default_value": seconds,
            "minimum": 0,
        }
    )
    PARAMETERS.append(
        {
            "key": f"gate.escalate_to.{kind}",
            "description": f"Role that gets the task when the gate for {what} times out",
            "value_type": "string",
            "unit": "",
            "default_value": role,
        }
    )
PARAMETERS += [
    {
        "key": "reconciliation.qty_tolerance_pct",
        "description": "Difference between ERP, MES and QMS quantities tolerated before an "
        "exception opens",
        "value_type": "decimal",
        "unit": "%",
        "default_value": "0.5",
        "minimum": 0,
        "maximum": 100,
    },
    {
        "key": "reconciliation.qty_tolerance_abs",
        "description": "Absolute quantity difference always tolerated (rounding of converted "
        "units), whatever the percentage",
        "value_type": "decimal",
        "unit": "",
        "default_value": "0.001",
        "minimum": 0,
    },
    {
        "key": "reconciliation.interval",
        "description": "How often a plant's ERP, MES and QMS are reconciled with Interlock",
        "value_type": "duration",
        "unit": "s",
        "default_value": "3600",
        "minimum": 60,
    },
    {
        "key": "reconciliation.role",
        "description": "Role that works the reconciliation exceptions of the plant",
        "value_type": "string",
        "unit": "",
        "default_value": "operator",
    },
    {
        "key": "reconciliation.due",
        "description": "Time to resolve a reconciliation exception before it escalates",
        "value_type": "duration",
        "unit": "s",
        "default_value": "14400",
        "minimum": 60,
    },
]


def create(apps, schema_editor):
    SiteParameter = apps.get_model("plants", "SiteParameter")
    for row in PARAMETERS:
        row = dict(row)
        SiteParameter.objects.get_or_create(key=row.pop("key"), defaults=row)


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0014_tasks_inbox")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
