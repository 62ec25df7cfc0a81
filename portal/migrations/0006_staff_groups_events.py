from django.db import migrations

from portal.staff_groups import sync_staff_groups


class Migration(migrations.Migration):
    """The staff groups may view the event log (the audit trail); nobody changes it."""

    dependencies = [("portal", "0005_event")]

    operations = [migrations.RunPython(sync_staff_groups, migrations.RunPython.noop)]
