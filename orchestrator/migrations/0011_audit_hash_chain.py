"""The audit trail becomes a hash chain, and TRUNCATE is refused too (issue 11, finding 10).

On PostgreSQL the row trigger of migration 0002 now lets exactly one UPDATE through: the
sealer setting ``chain_seq``, ``prev_hash`` and ``record_hash`` of a record that had none,
with every other column unchanged. ``DELETE`` and any other ``UPDATE`` stay refused.
A statement-level trigger refuses ``TRUNCATE`` of the trail and of its seals for every
role but a superuser (who could disable any trigger anyway, and whose test-database
flushes must keep working). ``audit_seal`` rows are append-only. SQLite, the embedded
demo database, relies on the Python checks and the chain alone.
"""

import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that does nothing on other databases (as in migration 0002)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


FORWARD = """
CREATE OR REPLACE FUNCTION orchestrator_auditrecord_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.record_hash IS NULL AND OLD.chain_seq IS NULL AND OLD.prev_hash IS NULL
       AND NEW.record_hash IS NOT NULL AND NEW.chain_seq IS NOT NULL AND NEW.prev_hash IS NOT NULL
       AND (to_jsonb(NEW) - 'chain_seq' - 'prev_hash' - 'record_hash')
           = (to_jsonb(OLD) - 'chain_seq' - 'prev_hash' - 'record_hash') THEN
        RETURN NEW;  -- the sealer: chain columns set once, nothing else touched
    END IF;
    RAISE EXCEPTION 'audit records are immutable (% refused on orchestrator_auditrecord id %)',
        TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION orchestrator_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'TRUNCATE of % refused: the audit trail is append-only', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION '% refused on %: the audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER orchestrator_auditrecord_no_truncate
BEFORE TRUNCATE ON orchestrator_auditrecord
FOR EACH STATEMENT EXECUTE FUNCTION orchestrator_append_only();

CREATE TRIGGER orchestrator_auditseal_immutable
BEFORE UPDATE OR DELETE ON orchestrator_auditseal
FOR EACH ROW EXECUTE FUNCTION orchestrator_append_only();

CREATE TRIGGER orchestrator_auditseal_no_truncate
BEFORE TRUNCATE ON orchestrator_auditseal
FOR EACH STATEMENT EXECUTE FUNCTION orchestrator_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS orchestrator_auditseal_no_truncate ON orchestrator_auditseal;
DROP TRIGGER IF EXISTS orchestrator_auditseal_immutable ON orchestrator_auditseal;
DROP TRIGGER IF EXISTS orchestrator_auditrecord_no_truncate ON orchestrator_auditrecord;
DROP FUNCTION IF EXISTS orchestrator_append_only();
CREATE OR REPLACE FUNCTION orchestrator_auditrecord_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are immutable (% refused on orchestrator_auditrecord id %)',
        TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("orchestrator", "0010_approvalrequest_decided_at_and_more"),
        ("plants", "0002_postgres_no_overlapping_validity"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditSeal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sealed_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "chain_seq",
                    models.BigIntegerField(help_text="Sequence number of the last sealed record."),
                ),
                (
                    "record_hash",
                    models.CharField(help_text="Its hash (the chain's head).", max_length=64),
                ),
                ("records", models.PositiveIntegerField(help_text="Records sealed by this run.")),
            ],
            options={
                "ordering": ["-chain_seq"],
                "get_latest_by": "chain_seq",
            },
        ),
        migrations.AddField(
            model_name="auditrecord",
            name="chain_seq",
            field=models.BigIntegerField(blank=True, editable=False, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="auditrecord",
            name="prev_hash",
            field=models.CharField(blank=True, editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="auditrecord",
            name="record_hash",
            field=models.CharField(blank=True, editable=False, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("notify", "Notification"),
                    ("threshold_alert", "Threshold alert"),
                    ("supplier_case", "Supplier case"),
                    ("audit_alert", "Audit trail alert"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddIndex(
            model_name="auditrecord",
            index=models.Index(
                condition=models.Q(("record_hash__isnull", True)),
                fields=["id"],
                name="audit_unsealed_idx",
            ),
        ),
        PostgresOnlySQL(FORWARD, reverse_sql=REVERSE),
    ]
