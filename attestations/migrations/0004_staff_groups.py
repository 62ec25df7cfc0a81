from django.db import migrations

from portal.staff_groups import sync_staff_groups


class Migration(migrations.Migration):
    """Risk and Partner operations review attestations: verify, accept, reject, reissue."""

    dependencies = [
        ("attestations", "0003_daily_schedule"),
        ("portal", "0004_staff_groups_cascades"),
        ("payouts", "0005_groups_and_monthly_schedule"),
    ]

    operations = [migrations.RunPython(sync_staff_groups, migrations.RunPython.noop)]
