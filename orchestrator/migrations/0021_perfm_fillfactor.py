"""Room in each heap page for the next version of a row the event path updates over and
over (issue 10, fourth pass).

A production order, its operations, its components and its lot links are updated by
nearly every event about the order, several times in one batch. With pages packed full
(fillfactor 100, PostgreSQL's default for tables) the new version goes to another page and
PostgreSQL adds an entry to every index of the table; with free room in the page, and no
indexed column changed, it is a heap-only tuple (HOT) update: no index entry at all.
A row updated in a batch needs room for its new version while the old one is still
visible, so the room must be large: in ``bench profile --batch 200`` fillfactor 80 made
24 % of the operations' updates HOT, 70 made 38–46 %, 50 made 64 % (0 % before; the
orders' state changes can never be HOT, their state is indexed).
Fillfactor 70 applies to pages written from now on (``VACUUM FULL`` or ``pg_repack``
rewrites existing ones); it costs about 40 % more space on these tables, which hold far fewer
rows than events or messages.
"""

from django.db import migrations

FILLFACTOR = 70

#: Models updated on the event path, in place, many times each.
UPDATED_IN_PLACE = ["productionorder", "operation", "ordercomponent", "lotorderlink"]


def _tables(apps, schema_editor):
    for model_name in UPDATED_IN_PLACE:
        table = apps.get_model("orchestrator", model_name)._meta.db_table
        yield schema_editor.quote_name(table)


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in _tables(apps, schema_editor):
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in _tables(apps, schema_editor):
        schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0020_perfm_hot_table_indexes")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False)]
