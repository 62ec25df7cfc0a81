"""Finance sees the new payout models; the task cluster creates each month's run."""

import datetime

from django.db import migrations

from portal.staff_groups import sync_staff_groups

SCHEDULE_NAME = "Create last month's payout run"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "payouts.tasks.run_previous_month",
            "schedule_type": "M",
            # The 1st of each month at 04:00 UTC, after the daily evaluation.
            "next_run": datetime.datetime(2000, 1, 1, 4, 0, tzinfo=datetime.UTC),
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0004_payout_entries"),
        ("portal", "0004_staff_groups_cascades"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunPython(sync_staff_groups, migrations.RunPython.noop),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
