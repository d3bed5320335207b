"""On PostgreSQL, make overlapping validity of a plant code impossible, not merely refused.

``SiteMapping.clean()`` explains an overlap to a person; these exclusion constraints stop
code that skips ``clean()`` and two writers racing each other. They need ``btree_gist``
(a trusted extension since PostgreSQL 13). SQLite, the embedded demo database, has no
exclusion constraints and relies on ``clean()`` alone.
"""

from django.db import migrations

TABLES = {
    "plants_itemmapping": "plant_id WITH =, plant_code WITH =",
    "plants_workcentermapping": "plant_id WITH =, plant_code WITH =",
    "plants_uommapping": "plant_id WITH =, plant_code WITH =",
    "plants_statusmapping": "plant_id WITH =, domain WITH =, plant_code WITH =",
}


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that does nothing on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def _constraint(table: str, key: str) -> tuple[str, str]:
    name = f"{table}_no_overlap"
    forward = (
        f"ALTER TABLE {table} ADD CONSTRAINT {name} EXCLUDE USING gist "
        f"({key}, daterange(valid_from, valid_to, '[)') WITH &&)"
    )
    return forward, f"ALTER TABLE {table} DROP CONSTRAINT {name}"


class Migration(migrations.Migration):
    dependencies = [("plants", "0001_initial")]

    operations = [
        PostgresOnlySQL(
            "CREATE EXTENSION IF NOT EXISTS btree_gist", reverse_sql=migrations.RunSQL.noop
        ),
        *(PostgresOnlySQL(*_constraint(table, key)) for table, key in TABLES.items()),
    ]
