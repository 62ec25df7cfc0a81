"""Set-based writes: on PostgreSQL rows are streamed with COPY, the fastest way in, into a
table or into a temporary table that one statement then reads (an INSERT ... SELECT, an
UPDATE ... FROM); parameters would be quoted into the SQL text one by one instead.
Elsewhere (the SQLite demo) `insert_rows` falls back on bulk_create."""

import json
import time

from django.db import connection


def insert_rows(model, columns, rows, *, batch_size=1000) -> int:
    """Insert `rows` (sequences in the order of `columns`, model fields' attnames) as new
    `model` rows, in the caller's transaction; how many."""
    if connection.vendor == "postgresql":
        return copy_rows(model._meta.db_table, columns, rows)
    objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
    model.objects.bulk_create(objects, batch_size=batch_size)
    return len(objects)


def copy_rows(table: str, columns, rows) -> int:
    """COPY `rows` (sequences in the order of `columns`; a dict or list is a JSON value)
    into `table`; how many. Logged with the queries Django logs (in tests, with DEBUG) as
    one statement."""
    count = 0
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    sql = f"COPY {connection.ops.quote_name(table)} ({names}) FROM STDIN"
    start = time.monotonic()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:  # nosec B608: quoted
        for row in rows:
            copy.write_row([json.dumps(v) if isinstance(v, dict | list) else v for v in row])
            count += 1
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - start:.3f}"})
    return count


def temporary_table(name: str, definition: str, rows) -> str:
    """A temporary table `name` (`definition`: its columns, as SQL) holding `rows`, dropped
    when the transaction ends; returns its quoted name."""
    quoted = connection.ops.quote_name(name)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quoted}")  # nosec B608: a quoted identifier
        create = f"CREATE TEMPORARY TABLE {quoted} ({definition}) ON COMMIT DROP"  # nosec B608: ours
        cursor.execute(create)
    columns = [column.split()[0] for column in definition.split(",")]
    copy_rows(name, columns, rows)
    return quoted
