from django.db import migrations

from portal.staff_groups import remove_staff_groups, sync_staff_groups


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("cascades", "0001_initial"),
        ("attestations", "0001_initial"),
        ("payouts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_staff_groups, remove_staff_groups)]
