"""On PostgreSQL the database refuses to change or delete a signed record."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE TRIGGER attestations_attestation_append_only BEFORE UPDATE OR DELETE "
            "ON attestations_attestation FOR EACH ROW EXECUTE FUNCTION portal_refuse_change()"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS attestations_attestation_append_only "
            "ON attestations_attestation"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("attestations", "0004_staff_groups"),
        ("payouts", "0002_append_only_triggers"),  # portal_refuse_change()
    ]

    operations = [migrations.RunPython(create, drop)]
