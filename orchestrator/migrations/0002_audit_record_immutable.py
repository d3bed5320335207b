"""On PostgreSQL, make audit records impossible to change or delete, not merely refused.

``AuditRecord.save()``/``delete()`` refuse in Python; this trigger also stops raw SQL,
``QuerySet.update()`` and any other client of the database. ``TRUNCATE`` (test teardown,
a deliberate purge by the DBA) fires no row triggers and stays possible. SQLite, the
embedded demo database, relies on the Python checks alone.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION orchestrator_auditrecord_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are immutable (% refused on orchestrator_auditrecord id %)',
        TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER orchestrator_auditrecord_immutable
BEFORE UPDATE OR DELETE ON orchestrator_auditrecord
FOR EACH ROW EXECUTE FUNCTION orchestrator_auditrecord_immutable();
"""
REVERSE = """
DROP TRIGGER IF EXISTS orchestrator_auditrecord_immutable ON orchestrator_auditrecord;
DROP FUNCTION IF EXISTS orchestrator_auditrecord_immutable();
"""


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that does nothing on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0001_initial")]

    operations = [PostgresOnlySQL(FUNCTION + TRIGGER, reverse_sql=REVERSE)]
