"""Fewer index entries per ingested event on the hot tables (issue 10, fourth pass).

- ``Event.status`` and ``waiting_for`` lose their full indexes for ``event_open``: only
  events that are not applied (parked, quarantined, escalated, discarded).
- ``Event.plant``'s own index goes: it is the prefix of ``event_plant_type_received``.
- ``OutboxMessage.status`` loses its full index: due rows are in ``outbox_due_idx``, dead
  letters in the new ``outbox_dead``.
- ``inbound_status_received`` leaves out accepted and duplicate messages: the outcome UPDATE
  of an accepted message no longer adds an entry to it.
- The ``varchar_pattern_ops`` twins Django creates beside a ``CharField``'s unique or
  ``db_index`` index (``…_like``, for ``LIKE 'prefix%'``) go on the three tables: every
  query on those columns is an equality (``IN``/``=``, ``ON CONFLICT``), and the API's
  ``search`` is ``UPPER(…) LIKE '%…%'``, which cannot use them either.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

#: (model, column) whose ``…_like`` index is dropped (status and waiting_for lose theirs
#: with their index, through AlterField).
PATTERN_INDEXES = [
    ("event", "correlation_id"),
    ("event", "event_type"),
    ("event", "idempotency_key"),
    ("inboundmessage", "correlation_id"),
    ("outboxmessage", "correlation_id"),
    ("outboxmessage", "idempotency_key"),
]


def _pattern_indexes(apps, schema_editor):
    for model_name, column in PATTERN_INDEXES:
        table = apps.get_model("orchestrator", model_name)._meta.db_table
        name = schema_editor._create_index_name(table, [column], suffix="_like")
        yield schema_editor.quote_name(name), schema_editor.quote_name(table), column


def drop_pattern_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in _pattern_indexes(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def create_pattern_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in _pattern_indexes(apps, schema_editor):
        quoted = schema_editor.quote_name(column)
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({quoted} varchar_pattern_ops)"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('orchestrator', '0019_scen_supplier_receipt_key'),
        ('plants', '0007_merge_conn_scenb'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='inboundmessage',
            name='inbound_status_received',
        ),
        migrations.AlterField(
            model_name='event',
            name='plant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='plants.plant'),
        ),
        migrations.AlterField(
            model_name='event',
            name='status',
            field=models.CharField(choices=[('accepted', 'Accepted'), ('applied', 'Applied'), ('parked', 'Parked: waiting for a prerequisite'), ('escalated', 'Escalated: prerequisite did not arrive in time'), ('quarantined', 'Quarantined'), ('discarded', 'Discarded by an operator')], default='accepted', max_length=20),
        ),
        migrations.AlterField(
            model_name='event',
            name='waiting_for',
            field=models.CharField(blank=True, help_text="Prerequisite key a parked event waits for, e.g. 'order-acknowledged:P1:WO-1001'.", max_length=300),
        ),
        migrations.AlterField(
            model_name='outboxmessage',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('in_flight', 'In flight'), ('delivered', 'Delivered'), ('dead', 'Dead-lettered')], default='pending', max_length=20),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('status', 'applied'), _negated=True), fields=['status', 'waiting_for'], name='event_open'),
        ),
        migrations.AddIndex(
            model_name='inboundmessage',
            index=models.Index(condition=models.Q(('status__in', ['accepted', 'duplicate']), _negated=True), fields=['status', 'received_at'], name='inbound_status_received'),
        ),
        migrations.AddIndex(
            model_name='outboxmessage',
            index=models.Index(condition=models.Q(('status', 'dead')), fields=['created_at'], name='outbox_dead'),
        ),
        migrations.RunPython(drop_pattern_indexes, create_pattern_indexes, elidable=False),
    ]
