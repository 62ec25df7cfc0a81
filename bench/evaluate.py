"""Benchmark of cascade evaluation (`cascades.evaluation.engagements_evaluate`) in PostgreSQL.

From the project root:

    DATABASE_URL=postgres://root@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/evaluate.py [--engagements N] [--signals-per-engagement K] [--keep]

It drops and recreates a dedicated database (the name given by --database, else
the one in DATABASE_URL, else portal_bench; the name must contain "bench"),
migrates it, and generates a program with COPY from a seeded random.Random:
partners over the four tiers with their tier history, one customer per
engagement, engagements with the snapshot of their tier's default structure,
outcome agreements, and about K signals per engagement of every type, signed
over the 36 months before the as-of date (2027-06-30) so that every step kind
fires, is pending or is missed.

On that program it times four evaluations and counts the SQL statements of each:
a full one as of 2027-06-30 (every engagement, its step rows and events written
from nothing), a second one with nothing new (the default, incremental
evaluation: only engagements whose inputs changed or whose state may change by
the date), an incremental one after 1,000 customers get new signals, and a
"next day" one as of 2027-07-01 after 1,000 other customers get new signals.
It does the same first on a program a tenth the size (--small-engagements), so
that the query counts can be set side by side, and it measures a ceiling in the
same run: streaming every signal row, in the order the evaluation reads them,
through a plain server-side psycopg cursor. The last line printed is one JSON
object with every figure.

Queries are the statements Django sends, counted with connection.execute_wrapper
(no SQL text kept); the FETCHes of a server-side cursor are not statements and
are not counted. The load runs with the foreign-key triggers off (the data is
consistent by construction) and ends with VACUUM ANALYZE, which is run again
after the full evaluation, as autovacuum would between two daily runs; neither is
timed as part of an evaluation.

Targets (the issue, on a 2-core machine): full <= 60 s, unchanged <= 2 s,
incremental <= 2 s, next day <= 5 s, queries per run independent of the number of
engagements.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import resource
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AS_OF = datetime.date(2027, 6, 30)
SIGNING_MONTHS = 36
TARGETS = {"full_s": 60, "unchanged_s": 2, "incremental_s": 2, "next_day_s": 5}
RUNS = ("full", "unchanged", "incremental", "next_day")
TIERS = ("authorized", "silver", "gold", "platinum")
CURRENCIES = ("USD",) * 8 + ("EUR", "GBP")
EXPANSION_TYPES = ("plan_upgrade", "org_added", "marketplace_purchase")
# Share of the free signal budget each type gets (renewals, churns and chargebacks
# come on top, from their own rules).
READING_WEIGHTS = (
    ("active_members", 40),
    ("vault_size_gb", 12),
    ("zone_count", 12),
    ("csat", 14),
    ("expansion", 12),
)
CHURN_RATE = 0.04
CHARGEBACK_RATE = 0.03
TERMINATED_PARTNERS = 2
TIER_UPGRADE_RATE = 0.2
COPY_CHUNK = 20_000
STREAM_CHUNK = 5000
SIGNAL_STREAM_SQL = (
    "SELECT customer_id, signal_id, type, occurred_at, value, amount, contract_year "
    "FROM cascades_signal ORDER BY customer_id, occurred_at, signal_id"
)
TIMESTAMP = "2027-06-30 00:00:00+00"
TABLE_ORDER = (
    "partners",
    "tier_changes",
    "status_changes",
    "customers",
    "engagements",
    "agreements",
    "outcomes",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engagements", type=int, default=100_000)
    parser.add_argument("--signals-per-engagement", type=int, default=10, metavar="K")
    parser.add_argument(
        "--small-engagements",
        type=int,
        default=None,
        help="size of the comparison program (default: a tenth of --engagements)",
    )
    parser.add_argument("--partners", type=int, default=200)
    parser.add_argument("--incremental-customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20270630)
    parser.add_argument(
        "--database", help="database to drop and recreate (default: DATABASE_URL's or portal_bench)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="run the large program's evaluations under cProfile and print the top N "
        "functions of each (their times are then the profiled ones)",
    )
    args = parser.parse_args(argv)
    if args.engagements < 1 or args.signals_per_engagement < 1:
        parser.error("--engagements and --signals-per-engagement must be at least 1")
    if args.small_engagements is None:
        args.small_engagements = max(args.engagements // 10, 1)
    return args


# --- environment and database -------------------------------------------------------------


def configure(args, script="bench/evaluate.py"):
    """Point Django at the dedicated benchmark database; refuse anything but PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(
            f"{script} measures PostgreSQL only: set DATABASE_URL=postgres://... "
            f"(got {url or 'nothing'!r})"
        )
    name = args.database or parts.path.lstrip("/") or "portal_bench"
    if "bench" not in name:
        sys.exit(
            f"Refusing to use database {name!r}: the benchmark drops and recreates it, so its "
            "name must contain 'bench' (e.g. portal_bench)."
        )
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 60)
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ["DEBUG"] = "0"  # DEBUG would keep every query in memory and skew the figures
    import django

    django.setup()
    return name


def _server_params():
    from django.db import connection

    settings = connection.settings_dict
    params = {"host": settings["HOST"] or None, "user": settings["USER"] or None}
    if settings["PORT"]:
        params["port"] = settings["PORT"]
    if settings["PASSWORD"]:
        params["password"] = settings["PASSWORD"]
    return {k: v for k, v in params.items() if v is not None}


def raw_connect(dbname, **kwargs):
    import psycopg

    return psycopg.connect(dbname=dbname, **_server_params(), **kwargs)


def recreate_database(name):
    from django.db import connection

    connection.close()
    with raw_connect("postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name):
    from django.db import connection

    connection.close()
    with raw_connect("postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate():
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command

    ContentType.objects.clear_cache()
    call_command("migrate", interactive=False, verbosity=0)


def vacuum_analyze(name):
    """What autovacuum would have done between two daily runs, done now so runs compare."""
    with raw_connect(name, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


# --- data generation ------------------------------------------------------------------------


def _copy_text(value):
    if value is None:
        return "\\N"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _row(*values):
    return "\t".join(_copy_text(v) for v in values)


def copy_lines(model, columns, lines):
    """COPY pre-formatted text lines into `model`'s table; returns the row count."""
    from django.db import connection

    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    count = 0
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        chunk = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= COPY_CHUNK:
                copy.write("\n".join(chunk) + "\n")
                count += len(chunk)
                chunk = []
        if chunk:
            copy.write("\n".join(chunk) + "\n")
            count += len(chunk)
    return count


@contextlib.contextmanager
def foreign_key_checks_skipped():
    """Skip the foreign-key triggers while loading data that is consistent by construction
    (a superuser may; others load with the checks, only more slowly)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser = cursor.fetchone()[0]
        if superuser:
            cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        if superuser:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")


def reset_sequences(*models):
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            )


def _money(rng, low, high):
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


def _format_decimal(value):
    return format(Decimal(value).normalize(), "f")


class SignalWriter:
    """Formats signal rows and keeps them by month, so that they land in the table in
    roughly the order they would have arrived, not grouped by customer."""

    COLUMNS = (
        "signal_id",
        "customer_id",
        "type",
        "occurred_at",
        "value",
        "amount",
        "contract_year",
        "member_ids",
        "body",
        "received_at",
    )

    def __init__(self):
        self.by_month = {}
        self.types = Counter()

    def add(self, sid, customer_id, customer_ext, kind, day, value=None, amount=None, year=None):
        day_text = day.isoformat()
        body = {"id": sid, "customer": customer_ext, "type": kind, "occurred_at": day_text}
        if kind in ("active_members", "vault_size_gb", "zone_count"):
            body["value"] = _format_decimal(value)
        elif kind == "csat":
            body["score"] = _format_decimal(value)
        elif kind == "renewal":
            body["contract_year"] = year
            if amount is not None:
                body["acv"] = _format_decimal(amount)
        elif kind in EXPANSION_TYPES:
            body["acv_delta"] = _format_decimal(amount)
        elif kind == "chargeback":
            body["amount"] = _format_decimal(amount)
        line = _row(
            sid,
            customer_id,
            kind,
            day_text,
            value,
            amount,
            year,
            None,
            json.dumps(body, separators=(",", ":")),
            f"{day_text} 06:00:00+00",
        )
        self.by_month.setdefault((day.year, day.month), []).append(line)
        self.types[kind] += 1

    def lines(self):
        for month in sorted(self.by_month):
            yield from self.by_month[month]

    def __len__(self):
        return sum(self.types.values())


def customer_signals(rng, writer, customer_id, customer_ext, signed, year1_acv, budget):
    """Add one customer's history to `writer`: renewals due at 12/24/36 months (most on
    time, some late, some never), a churn or chargeback for a few, and readings, CSAT
    scores and expansion events spread over its life."""
    from cascades.engine import add_months

    signals = []
    churn = None
    life_days = (AS_OF - signed).days
    if life_days > 20 and rng.random() < CHURN_RATE:
        churn = signed + datetime.timedelta(days=rng.randint(10, life_days))
    end = churn or AS_OF
    span = (end - signed).days
    if churn is not None:
        signals.append(("churn", churn, None, None, None))

    acv = year1_acv
    for year in (1, 2, 3):
        due = add_months(signed, 12 * year)
        draw = rng.random()
        if draw < 0.80:
            day = due + datetime.timedelta(days=rng.randint(-20, 45))  # in the 60-day window
        elif draw < 0.90:
            day = due + datetime.timedelta(days=rng.randint(61, 150))  # too late: missed
        else:
            break  # never renewed
        if day >= end:
            break
        amount = None
        if rng.random() < 0.5:
            acv = (acv * rng.randint(90, 135) / 100).quantize(Decimal("0.01"))
            amount = acv
        signals.append(("renewal", day, None, amount, year))

    if span > 0 and rng.random() < CHARGEBACK_RATE:
        day = signed + datetime.timedelta(days=rng.randint(1, span))
        signals.append(("chargeback", day, None, _money(rng, 100, 5000), None))

    members = rng.randint(5, 60)  # some customers stay below the adoption threshold (25)
    vault = rng.randint(50, 1200)  # platinum coverage: 500 GB
    zones = rng.randint(1, 9)  # gold coverage: 5 zones
    kinds = [kind for kind, _ in READING_WEIGHTS]
    weights = [weight for _, weight in READING_WEIGHTS]
    for kind in rng.choices(kinds, weights, k=max(budget - len(signals), 0)):
        day = signed + datetime.timedelta(days=rng.randint(0, span)) if span > 0 else signed
        if kind == "active_members":
            signals.append((kind, day, max(0, members + rng.randint(-8, 8)), None, None))
        elif kind == "vault_size_gb":
            signals.append((kind, day, max(1, vault + rng.randint(-150, 150)), None, None))
        elif kind == "zone_count":
            signals.append((kind, day, max(1, zones + rng.randint(-1, 1)), None, None))
        elif kind == "csat":
            signals.append((kind, day, rng.randint(3, 10), None, None))
        else:
            event = rng.choice(EXPANSION_TYPES)
            signals.append((event, day, None, _money(rng, 500, 25000), None))

    for index, (kind, day, value, amount, year) in enumerate(signals):
        writer.add(
            f"sig-{customer_id}-{index}", customer_id, customer_ext, kind, day, value, amount, year
        )
    return len(signals)


def generate(n, k, partners_count, seed):
    """Write the program with COPY; returns what was written."""
    from cascades.models import CascadeStructure
    from cascades.structures import Structure, validate_document

    rng = random.Random(seed)
    structures = {}
    for tier in TIERS:
        row = CascadeStructure.objects.current_for(tier)
        if row is None:
            sys.exit(f"The migrations loaded no structure for the {tier} tier.")
        snapshot = Structure.from_document(validate_document(row.document)).snapshot()
        structures[tier] = (row.id, json.dumps(snapshot, separators=(",", ":")))

    first_signing = AS_OF - datetime.timedelta(days=round(SIGNING_MONTHS * 365.25 / 12))
    rows = {name: [] for name in TABLE_ORDER}
    partner_history = []  # per partner: [(effective, tier), ...] newest first, termination
    for pid in range(1, partners_count + 1):
        level = (pid - 1) % len(TIERS)
        history = [(datetime.date(2023, 1, 1), TIERS[level])]
        if level < len(TIERS) - 1 and rng.random() < TIER_UPGRADE_RATE:
            upgrade = first_signing + datetime.timedelta(days=rng.randint(90, 1000))
            history.insert(0, (upgrade, TIERS[level + 1]))
        terminated = None
        status = "active"
        if pid <= TERMINATED_PARTNERS:
            terminated = AS_OF - datetime.timedelta(days=rng.randint(30, 200))
            status = "terminated"
        partner_history.append((history, terminated))
        rows["partners"].append(_row(pid, f"bench-p{pid}", f"Partner {pid}", status, TIMESTAMP))
        for effective, tier in history:
            rows["tier_changes"].append(_row(pid, tier, effective, TIMESTAMP, None, ""))
        if terminated is not None:
            rows["status_changes"].append(
                _row(pid, "active", "terminated", "Benchmark", f"{terminated} 12:00:00+00", None)
            )

    writer = SignalWriter()
    tiers_used = Counter()
    signing_span = (AS_OF - first_signing).days
    for eid in range(1, n + 1):
        pid = rng.randint(1, partners_count)
        history, terminated = partner_history[pid - 1]
        signed = first_signing + datetime.timedelta(days=rng.randint(0, signing_span - 1))
        if terminated is not None and signed >= terminated:
            signed = terminated - datetime.timedelta(days=rng.randint(1, 400))
        tier = next(tier for effective, tier in history if effective <= signed)
        tiers_used[tier] += 1
        structure_id, snapshot = structures[tier]
        currency = rng.choice(CURRENCIES)
        year1_acv = _money(rng, 5_000, 250_000)
        customer_ext = f"bench-c{eid}"
        rows["customers"].append(
            _row(eid, customer_ext, f"Customer {eid}", f"c{eid}@example.com", TIMESTAMP)
        )
        rows["engagements"].append(
            _row(
                eid,
                f"bench-e{eid}",
                pid,
                eid,
                signed,
                tier,
                currency,
                year1_acv,
                structure_id,
                snapshot,
                TIMESTAMP,
            )
        )
        if rng.random() < 0.85:
            agreement_signed = f"{signed} 12:00:00+00" if rng.random() < 0.9 else None
            rows["agreements"].append(_row(eid, eid, TIMESTAMP, agreement_signed))
            due_months = rng.choice((6, 9, 12))
            due = signed + datetime.timedelta(days=30 * due_months)
            draw = rng.random()
            accepted = None
            if draw < 0.45:
                accepted = due + datetime.timedelta(days=rng.randint(-90, 60))
            elif draw < 0.50:
                accepted = due + datetime.timedelta(days=rng.randint(100, 200))  # too late
            if accepted is not None and (accepted > AS_OF or accepted < signed):
                accepted = None
            rows["outcomes"].append(
                _row(
                    eid,
                    eid,
                    "primary",
                    "Primary business outcome",
                    "Measured by the customer's own reporting.",
                    "100",
                    "percent",
                    due_months,
                    "false",
                    accepted,
                )
            )
        budget = rng.randint((k + 1) // 2, k + k // 2)
        customer_signals(rng, writer, eid, customer_ext, signed, year1_acv, budget)

    with foreign_key_checks_skipped():
        signals = write_program(rows, writer)
    return {
        "partners": partners_count,
        "engagements": n,
        "signals": signals,
        "outcomes": len(rows["outcomes"]),
        "engagements_by_tier": dict(sorted(tiers_used.items())),
        "signals_by_type": dict(sorted(writer.types.items())),
    }


def write_program(rows, writer):
    """COPY the generated rows, parents first; returns the number of signals."""
    from attestations.models import Outcome, OutcomeAgreement
    from cascades.models import Customer, Engagement, Signal
    from portal.models import Partner, PartnerStatusChange, TierChange

    copy_lines(Partner, ("id", "external_id", "name", "status", "created_at"), rows["partners"])
    copy_lines(
        TierChange,
        ("partner_id", "tier", "effective", "created_at", "created_by_id", "note"),
        rows["tier_changes"],
    )
    copy_lines(
        PartnerStatusChange,
        ("partner_id", "from_status", "to_status", "reason", "changed_at", "changed_by_id"),
        rows["status_changes"],
    )
    copy_lines(
        Customer, ("id", "external_id", "name", "contact_email", "created_at"), rows["customers"]
    )
    copy_lines(
        Engagement,
        (
            "id",
            "external_id",
            "partner_id",
            "customer_id",
            "signed_at",
            "tier",
            "currency",
            "year1_acv",
            "structure_id",
            "snapshot",
            "created_at",
        ),
        rows["engagements"],
    )
    copy_lines(
        OutcomeAgreement, ("id", "engagement_id", "created_at", "signed_at"), rows["agreements"]
    )
    copy_lines(
        Outcome,
        (
            "id",
            "agreement_id",
            "key",
            "title",
            "methodology",
            "target",
            "unit",
            "due_months",
            "verification_required",
            "accepted_on",
        ),
        rows["outcomes"],
    )
    signals = copy_lines(Signal, SignalWriter.COLUMNS, writer.lines())
    reset_sequences(Partner, Customer, Engagement, OutcomeAgreement, Outcome)
    return signals


def add_incremental_signals(rng, count, as_of, *, exclude=()):
    """New signals for `count` random customers (none of `exclude`), dated in the 45 days
    before `as_of`: readings, CSAT scores and expansion events that fire pending steps, and
    a few churns that claw back or reverse rewards; their engagements are marked changed
    as the ops API's ingestion marks them. Returns the ids of those engagements."""
    from django.db import transaction

    from cascades.dirty import engagements_mark_changed
    from cascades.models import Customer, Engagement, Signal

    customers = [
        row
        for row in Customer.objects.order_by("id").values_list("id", "external_id")
        if row[0] not in exclude
    ]
    chosen = rng.sample(customers, min(count, len(customers)))
    new = []
    for customer_id, customer_ext in chosen:
        kinds = rng.choices(
            ("active_members", "csat", "expansion", "vault_size_gb", "zone_count"),
            (4, 2, 2, 1, 1),
            k=rng.randint(1, 3),
        )
        if rng.random() < 0.05:
            kinds.append("churn")
        for index, kind in enumerate(kinds):
            day = as_of - datetime.timedelta(days=rng.randint(0, 45))
            sid = f"inc-{as_of:%Y%m%d}-{customer_id}-{index}"
            body = {"id": sid, "customer": customer_ext, "type": kind, "occurred_at": str(day)}
            signal = Signal(signal_id=sid, customer_id=customer_id, occurred_at=day)
            if kind == "active_members":
                signal.value = Decimal(rng.randint(25, 80))
                body["value"] = str(signal.value)
            elif kind == "vault_size_gb":
                signal.value = Decimal(rng.randint(400, 1500))
                body["value"] = str(signal.value)
            elif kind == "zone_count":
                signal.value = Decimal(rng.randint(4, 10))
                body["value"] = str(signal.value)
            elif kind == "csat":
                signal.value = Decimal(rng.randint(8, 10))
                body["score"] = str(signal.value)
            elif kind == "expansion":
                kind = body["type"] = rng.choice(EXPANSION_TYPES)
                signal.amount = _money(rng, 500, 25000)
                body["acv_delta"] = str(signal.amount)
            signal.type = kind
            signal.body = body
            new.append(signal)
    with transaction.atomic():
        Signal.objects.bulk_create(new, batch_size=5000)
        engagements_mark_changed(customer_ids=[c for c, _ in chosen])
    ids = list(
        Engagement.objects.filter(customer_id__in=[c for c, _ in chosen])
        .order_by("id")
        .values_list("id", flat=True)
    )
    return ids, len(new)


# --- measuring ------------------------------------------------------------------------------


class QueryCounter:
    """Counts the statements Django sends (no SQL text kept), by their first word."""

    def __init__(self):
        self.total = 0
        self.by_verb = Counter()

    def __call__(self, execute, sql, params, many, context):
        self.total += 1
        self.by_verb[sql.lstrip().split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)


def written_rows():
    from cascades.models import CascadeStep, Clawback, Reward
    from payouts.models import LedgerEntry
    from portal.models import Event

    return {
        "rewards": Reward.objects.count(),
        "clawbacks": Clawback.objects.count(),
        "ledger_entries": LedgerEntry.objects.count(),
        "step_rows": CascadeStep.objects.count(),
        "events": Event.objects.count(),
    }


def measure(label, *, as_of=AS_OF, full=False, profile=0):
    from django.db import connection

    from cascades.evaluation import engagements_evaluate

    counter = QueryCounter()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    cpu = time.process_time()
    start = time.perf_counter()
    with connection.execute_wrapper(counter):
        if profiler is not None:
            profiler.enable()
        summary = engagements_evaluate(as_of=as_of, full=full)
        if profiler is not None:
            profiler.disable()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    rows = written_rows()
    print(
        f"  {label:<12} {elapsed:8.2f} s  (python cpu {cpu:6.2f} s)  "
        f"{counter.total:5d} queries {dict(sorted(counter.by_verb.items()))}  "
        f"evaluated {summary.engagements}, +{summary.rewards_created} rewards, "
        f"+{summary.clawbacks_created} clawbacks, {summary.steps_written} step rows written "
        f"({summary.steps_deleted} replaced), {summary.events_written} events; now "
        f"{rows['rewards']} rewards, {rows['clawbacks']} clawbacks, "
        f"{rows['ledger_entries']} ledger entries, {rows['step_rows']} step rows, "
        f"{rows['events']} events",
        flush=True,
    )
    if profiler is not None:
        import io
        import pstats

        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(profile)
            print(f"  --- cProfile of the {label} run, by {order} ---")
            print(out.getvalue())
    return {
        "s": round(elapsed, 3),
        "cpu_s": round(cpu, 3),
        "queries": counter.total,
        "queries_by_verb": dict(sorted(counter.by_verb.items())),
        "engagements_evaluated": summary.engagements,
        "rewards_created": summary.rewards_created,
        "clawbacks_created": summary.clawbacks_created,
        "step_rows_written": summary.steps_written,
        "step_rows_replaced": summary.steps_deleted,
        "events_written": summary.events_written,
        "rows_after": rows,
    }


def stream_signals(name):
    """The ceiling: every signal row, in the evaluation's order, through a plain
    server-side psycopg cursor and nothing else."""
    start = time.perf_counter()
    count = 0
    with raw_connect(name) as conn, conn.cursor(name="bench_signals") as cursor:
        cursor.itersize = STREAM_CHUNK
        cursor.execute(SIGNAL_STREAM_SQL)
        for _ in cursor:
            count += 1
    return time.perf_counter() - start, count


def kinds_fired():
    from django.db.models import Count

    from cascades.models import Clawback, Reward

    rewards = dict(
        Reward.objects.order_by()
        .values_list("step_kind")
        .annotate(n=Count("id"))
        .values_list("step_kind", "n")
    )
    clawbacks = dict(
        Clawback.objects.order_by()
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    return dict(sorted(rewards.items())), dict(sorted(clawbacks.items()))


def run_program(label, name, n, args, *, profile=0):
    print(
        f"\n== {label} program: {n} engagements, ~{args.signals_per_engagement} signals each ==",
        flush=True,
    )
    start = time.perf_counter()
    recreate_database(name)
    migrate()
    migrate_s = time.perf_counter() - start

    start = time.perf_counter()
    facts = generate(n, args.signals_per_engagement, args.partners, args.seed + n)
    generate_s = time.perf_counter() - start
    start = time.perf_counter()
    vacuum_analyze(name)
    vacuum_s = time.perf_counter() - start
    print(
        f"  database recreated and migrated in {migrate_s:.1f} s; generated in {generate_s:.1f} s "
        f"(then VACUUM ANALYZE {vacuum_s:.1f} s): {facts['partners']} partners, "
        f"{facts['engagements']} engagements {facts['engagements_by_tier']}, "
        f"{facts['outcomes']} outcomes, {facts['signals']} signals",
        flush=True,
    )
    print(f"  signals by type: {facts['signals_by_type']}", flush=True)

    stream_before, streamed = stream_signals(name)
    print(
        f"  ceiling: streamed {streamed} signal rows (server-side psycopg cursor) "
        f"in {stream_before:.2f} s",
        flush=True,
    )
    full = measure("full", full=True, profile=profile)
    rewards_by_kind, clawbacks_by_kind = kinds_fired()
    print(f"  rewards by step kind: {rewards_by_kind}", flush=True)
    print(f"  clawbacks by kind: {clawbacks_by_kind}", flush=True)
    start = time.perf_counter()
    vacuum_analyze(name)  # what autovacuum does after the full run's inserts
    print(f"  VACUUM ANALYZE after the full run: {time.perf_counter() - start:.1f} s", flush=True)
    unchanged = measure("unchanged", profile=profile)
    rng = random.Random(args.seed * 7 + n)
    ids, new_signals = add_incremental_signals(rng, args.incremental_customers, AS_OF)
    print(
        f"  added {new_signals} signals for {len(ids)} customers' engagements, dated "
        f"{AS_OF - datetime.timedelta(days=45)}..{AS_OF}",
        flush=True,
    )
    incremental = measure("incremental", profile=profile)
    next_day = AS_OF + datetime.timedelta(days=1)
    next_ids, next_signals = add_incremental_signals(
        rng, args.incremental_customers, next_day, exclude=set(ids)
    )
    print(
        f"  added {next_signals} signals for {len(next_ids)} other customers' engagements, "
        f"dated {next_day - datetime.timedelta(days=45)}..{next_day}",
        flush=True,
    )
    next_day_run = measure("next_day", as_of=next_day, profile=profile)
    _, final_clawbacks_by_kind = kinds_fired()
    print(f"  after the incremental run, clawbacks by kind: {final_clawbacks_by_kind}", flush=True)
    stream_after, _ = stream_signals(name)
    stream_s = min(stream_before, stream_after)
    print(
        f"  ceiling again: {stream_after:.2f} s; best {stream_s:.2f} s -> full run = "
        f"{full['s'] / stream_s:.1f}x, unchanged = {unchanged['s'] / stream_s:.1f}x the stream",
        flush=True,
    )
    return {
        "engagements": n,
        "signals": facts["signals"],
        "outcomes": facts["outcomes"],
        "partners": facts["partners"],
        "generate_s": round(generate_s, 2),
        "migrate_s": round(migrate_s, 2),
        "stream_signals_s": round(stream_s, 3),
        "full": full,
        "unchanged": unchanged,
        "incremental": incremental,
        "next_day": next_day_run,
        "incremental_engagements": len(ids),
        "incremental_signals": new_signals,
        "next_day_engagements": len(next_ids),
        "next_day_signals": next_signals,
        "rewards_by_kind": rewards_by_kind,
        "clawbacks_by_kind": clawbacks_by_kind,
        "final_clawbacks_by_kind": final_clawbacks_by_kind,
        "signals_by_type": facts["signals_by_type"],
    }


def main(argv=None):
    args = parse_args(argv)
    name = configure(args)
    from django.db import connection

    print(
        f"Cascade evaluation benchmark: database {name!r} on "
        f"{connection.settings_dict['HOST'] or 'local socket'}, as of {AS_OF}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    try:
        small = run_program("small", name, args.small_engagements, args)
        large = run_program("large", name, args.engagements, args, profile=args.profile)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server_version = cursor.fetchone()[0]
    finally:
        if args.keep:
            print(f"\nKept database {name!r}.")
        else:
            drop_database(name)
            print(f"\nDropped database {name!r}.")

    print(f"\n{'':<12}{'seconds':>10}{'target':>8}{'queries':>9}{'small':>7}   (small program)")
    for run in RUNS:
        seconds = large[run]["s"]
        target = TARGETS[f"{run}_s"]
        print(
            f"{run:<12}{seconds:10.2f}{target:8d}{large[run]['queries']:9d}"
            f"{small[run]['queries']:7d}   {'ok' if seconds <= target else 'MISSED'}"
        )
    stream_s = large["stream_signals_s"]
    print(
        f"ceiling: streaming {large['signals']} signals took {stream_s:.2f} s; "
        f"full = {large['full']['s'] / stream_s:.1f}x, "
        f"unchanged = {large['unchanged']['s'] / stream_s:.1f}x that"
    )
    same_queries = all(small[run]["queries"] == large[run]["queries"] for run in RUNS)
    print(
        "queries independent of the number of engagements: "
        + ("yes" if same_queries else "NO (see the counts above)")
        + f" ({large['engagements']} vs {small['engagements']} engagements)"
    )
    from cascades import evaluation

    flush_every = getattr(evaluation, "FLUSH_EVERY", None)
    if flush_every and large["engagements"] <= flush_every:
        print(
            f"  (both programs fit in one write batch of {flush_every} engagements: run with "
            "more engagements to see whether the full run's count grows with the batches)"
        )

    figures = {
        "engagements": large["engagements"],
        "signals": large["signals"],
        "outcomes": large["outcomes"],
        "partners": large["partners"],
        "as_of": AS_OF.isoformat(),
        "generate_s": large["generate_s"],
        **{f"{run}_s": large[run]["s"] for run in RUNS},
        **{f"{run}_cpu_s": large[run]["cpu_s"] for run in RUNS},
        **{f"{run}_queries": large[run]["queries"] for run in RUNS},
        **{f"{run}_engagements_evaluated": large[run]["engagements_evaluated"] for run in RUNS},
        **{f"{run}_step_rows_written": large[run]["step_rows_written"] for run in RUNS},
        **{f"{run}_events_written": large[run]["events_written"] for run in RUNS},
        "incremental_engagements": large["incremental_engagements"],
        "next_day_engagements": large["next_day_engagements"],
        **{f"rows_after_{run}": large[run]["rows_after"] for run in RUNS},
        "rewards_by_kind": large["rewards_by_kind"],
        "clawbacks_by_kind": large["clawbacks_by_kind"],
        "clawbacks_by_kind_after_incremental": large["final_clawbacks_by_kind"],
        "small_engagements": small["engagements"],
        "small_signals": small["signals"],
        **{f"small_{run}_s": small[run]["s"] for run in RUNS},
        **{f"small_{run}_queries": small[run]["queries"] for run in RUNS},
        "small_incremental_engagements": small["incremental_engagements"],
        "queries_independent": same_queries,
        "stream_signals_s": stream_s,
        "full_over_stream": round(large["full"]["s"] / stream_s, 2),
        "unchanged_over_stream": round(large["unchanged"]["s"] / stream_s, 2),
        "small_stream_signals_s": small["stream_signals_s"],
        "targets": TARGETS,
        "targets_met": {key: large[key[:-2]]["s"] <= value for key, value in TARGETS.items()},
        "profiled": bool(args.profile),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": server_version,
        "seed": args.seed,
    }
    print(json.dumps(figures, sort_keys=False))


if __name__ == "__main__":
    main()
