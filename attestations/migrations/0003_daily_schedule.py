import datetime

from django.db import migrations

SCHEDULE_NAME = "Send attestation links and reminders"


def create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "attestations.tasks.attestations_daily_task",
            "schedule_type": "D",
            "next_run": datetime.datetime(2000, 1, 1, 8, 0, tzinfo=datetime.UTC),
            "repeats": -1,
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("attestations", "0002_signing_and_attestations"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
