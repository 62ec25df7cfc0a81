"""Each outcome keeps the last day its acceptance fires the outcome step (SPEC §4)."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    # The engine's rule, applied once to the outcomes already recorded.
    from cascades.engine import outcome_window_closes
    from cascades.structures import Structure

    Outcome = apps.get_model("attestations", "Outcome")
    outcomes = Outcome.objects.select_related("agreement__engagement")
    for outcome in outcomes.filter(agreement__engagement__snapshot__isnull=False):
        engagement = outcome.agreement.engagement
        outcome.window_closes_on = outcome_window_closes(
            Structure.from_document(engagement.snapshot),
            engagement.signed_at,
            outcome.key,
            outcome.due_months,
        )
        outcome.save(update_fields=["window_closes_on"])


class Migration(migrations.Migration):
    dependencies = [("attestations", "0005_signed_records_append_only")]

    operations = [
        migrations.AddField(
            model_name="outcome",
            name="window_closes_on",
            field=models.DateField(
                blank=True,
                editable=False,
                help_text="The last day an accepted attestation fires the outcome step (from "
                "the engagement's structure); none when no step pays this outcome.",
                null=True,
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
