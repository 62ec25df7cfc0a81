import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from portal.staff_groups import GROUP_PERMISSIONS


def unapplied_migrations():
    executor = MigrationExecutor(connection)
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_migrations_apply_and_reverse_on_postgresql():
    assert connection.vendor == "postgresql"
    assert unapplied_migrations() == []

    # Back to before the portal existed (everything that depends on the user
    # model goes too), then forward again: every migration is reversible.
    call_command("migrate", "portal", "zero", verbosity=0)
    assert unapplied_migrations() != []
    call_command("migrate", verbosity=0)

    assert unapplied_migrations() == []
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= set(GROUP_PERMISSIONS)
