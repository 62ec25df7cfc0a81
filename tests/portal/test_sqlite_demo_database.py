"""The demo's SQLite file, written by the web server and the task cluster at once."""

import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SECONDS = 3.0

# One process of the demo: transactions that read, then write (as saving an attestation
# review does while the task cluster records an evaluation).
WRITER = """
import django, sys, time
django.setup()
from django.db import connection, transaction
name, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(0, start - time.time()))
while time.time() < start + {seconds}:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM demo_writes")
            seen = cursor.fetchone()[0]
            cursor.execute("INSERT INTO demo_writes (who, seen) VALUES (%s, %s)", [name, seen])
"""


def test_two_processes_writing_the_demo_database_at_once_never_hit_a_lock(tmp_path):
    database = tmp_path / "portal.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{database}",
    }
    setup = (
        "import django; django.setup(); from django.db import connection; "
        "connection.cursor().execute('CREATE TABLE demo_writes "
        "(id INTEGER PRIMARY KEY, who TEXT, seen INTEGER)')"
    )
    subprocess.run([sys.executable, "-c", setup], cwd=ROOT, env=env, check=True)

    start = str(time.time() + 6)  # both at once, once Django has started in each
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER.format(seconds=SECONDS), name, start],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("web", "cluster")
    ]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    results = [(writer.returncode, error) for writer, error in zip(writers, errors, strict=True)]

    assert results == [(0, ""), (0, "")]
    with closing(sqlite3.connect(database)) as db:
        rows, distinct, writers_seen = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT seen), COUNT(DISTINCT who) FROM demo_writes"
        ).fetchone()
    # Both wrote, and each transaction saw every write committed before it began.
    assert writers_seen == 2
    assert rows == distinct > 20
