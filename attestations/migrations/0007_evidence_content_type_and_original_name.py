"""Evidence is stored under a random name: keep the type its content showed and the
customer's name for it (as text). Records signed before keep both empty."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("attestations", "0006_outcome_window_closes_on")]

    operations = [
        migrations.AddField(
            model_name="attestation",
            name="evidence_content_type",
            field=models.CharField(
                blank=True,
                help_text="What the file's content showed it to be; its download is typed by it.",
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="attestation",
            name="evidence_original_name",
            field=models.CharField(
                blank=True,
                help_text="The customer's name for the file, as text only.",
                max_length=255,
            ),
        ),
    ]
