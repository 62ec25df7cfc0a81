from django.db import migrations

from portal.staff_groups import sync_staff_groups


class Migration(migrations.Migration):
    """Clawbacks and evaluation runs join the staff groups' permissions."""

    dependencies = [
        ("portal", "0003_opstoken"),
        ("cascades", "0002_default_structures_and_schedule"),
    ]

    operations = [migrations.RunPython(sync_staff_groups, migrations.RunPython.noop)]
