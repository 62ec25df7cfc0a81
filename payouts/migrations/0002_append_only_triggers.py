"""On PostgreSQL the database itself refuses to update or delete append-only rows."""

from django.db import migrations

TABLES = ["payouts_ledgerentry", "cascades_reward", "cascades_clawback", "cascades_signal"]

FUNCTION = """
CREATE OR REPLACE FUNCTION portal_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE =
        'rows of ' || TG_TABLE_NAME || ' are append-only: add a correcting row instead';
END
$$ LANGUAGE plpgsql;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION portal_refuse_change()"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS portal_refuse_change()")


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0001_initial"),
        ("cascades", "0002_default_structures_and_schedule"),
    ]

    operations = [migrations.RunPython(create, drop)]
