import os
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _flushes_the_database(item):
    """Does the test run outside a rolled-back transaction (so the database is flushed
    after it), and does it forget to bring the data migrations' rows back?"""
    from pytest_django.fixtures import validate_django_db

    marker = item.get_closest_marker("django_db")
    transactional, serialized = False, False
    if marker is not None:
        transactional, reset_sequences, _, serialized, _ = validate_django_db(marker)
        transactional = transactional or reset_sequences
    fixtures = getattr(item, "fixturenames", ())
    transactional = transactional or "transactional_db" in fixtures or "live_server" in fixtures
    return transactional and not serialized


def pytest_collection_modifyitems(config, items):
    # A transactional test flushes every table when it ends: the staff groups and
    # the default structures of the data migrations go, and content types come back
    # under new ids. Each such test restores the migrated rows first
    # (serialized_rollback), so the suite passes in any order (pytest-randomly).
    careless = [item.nodeid for item in items if _flushes_the_database(item)]
    if careless:
        raise pytest.UsageError(
            "Transactional tests must use "
            "@pytest.mark.django_db(transaction=True, serialized_rollback=True): "
            + ", ".join(careless)
        )

    from django.db import connection

    if connection.vendor == "postgresql":
        return
    if os.environ.get("REQUIRE_POSTGRES"):
        raise pytest.UsageError("REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL.")
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _migrated_rows_for_every_connection_wrapper(django_db_setup):
    """Once Playwright's sync API has started, test code runs in another context, where
    Django's connection handler hands out new wrapper objects that lack the test database's
    serialized rows (kept on the wrapper that created it): serialized_rollback would then
    restore nothing. Keep the rows on the wrapper's class, which every wrapper shares."""
    from django.db import connections

    for alias in connections:
        contents = getattr(connections[alias], "_test_serialized_contents", None)
        if contents is not None:
            type(connections[alias])._test_serialized_contents = contents


@pytest.fixture
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
