"""A new installation starts from the default program (one structure per tier) and
evaluates every engagement daily."""

import datetime
import json
from pathlib import Path

from django.db import migrations

from cascades.structures import validate_document

DEFAULTS = Path(__file__).resolve().parent.parent / "data" / "default_structures.json"
SCHEDULE_NAME = "Evaluate cascades daily"


def load_defaults(apps, schema_editor):
    CascadeStructure = apps.get_model("cascades", "CascadeStructure")
    for document in json.loads(DEFAULTS.read_text()):
        clean = validate_document(document)
        if not CascadeStructure.objects.filter(tier=clean["tier"], is_custom=False).exists():
            CascadeStructure.objects.create(
                tier=clean["tier"], version=1, name=clean["name"], document=clean
            )
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "cascades.tasks.evaluate_all_daily",
            "schedule_type": "D",
            "next_run": datetime.datetime(2000, 1, 1, 2, 0, tzinfo=datetime.UTC),
            "repeats": -1,
        },
    )


def unload_defaults(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()
    CascadeStructure = apps.get_model("cascades", "CascadeStructure")
    CascadeStructure.objects.filter(version=1, is_custom=False, engagements__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cascades", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(load_defaults, unload_defaults)]
