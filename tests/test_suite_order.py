"""The suite passes in any order: the pair that once failed, run in the order that failed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

# A transactional test that flushed the database without restoring the migrated rows
# left content types under new ids; the migration test's restore then collided.
FAILING_PAIR = [
    "tests/payouts/test_payout_runs.py::test_two_runs_of_one_period_started_at_once_make_one_run",
    "tests/test_migrations.py::test_migrations_apply_and_reverse_on_postgresql",
]


@pytest.mark.postgres
def test_a_flushing_test_before_the_migration_test_passes():
    # Its own test database, beside the one this session is using.
    db = connection.settings_dict
    login = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    url = f"postgres://{login}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/order_check"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *FAILING_PAIR],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "REQUIRE_POSTGRES": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
