"""Benchmark of a monthly payout run (`payouts.services.payout_run_create`) and of the
statement PDF (`payouts.pdf.statement_pdf_bytes`) in PostgreSQL.

From the project root:

    DATABASE_URL=postgres://root@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/payouts.py [--partners 5000] [--entries 500000] [--keep]

It drops and recreates a dedicated database (the name given by --database, else
the one in DATABASE_URL, else portal_bench; the name must contain "bench"),
migrates it, and generates a program with COPY from a seeded random.Random:
partners over the four tiers with a tier change each, about four engagements per
partner (one customer each, some in EUR or GBP, with the snapshot of their tier's
default structure), and about --entries ledger entries: one standard commission
per engagement, cascade rewards (each with its own Reward row), clawbacks and
reversals (each with its own Clawback row on a reward), and adjustments with a
reason. Some partners and engagements earn much more often than others (lognormal
weights), so statements range from a few lines to hundreds. The entries are dated
over the twelve months up to the period paid (2027-05), about 45 % of them inside
it, and 1 % on 2027-06-01, after it (they stay pending). A few partners get one
more adjustment that leaves a balance below zero or under the minimum payout, so
that both carry-forward paths are taken.

On that program it times the run for 2027-05 as of 2027-06-01 WITHOUT PDFs (with
the ORM broker and no cluster running, enqueueing the rendering only inserts one
queue row) and counts its SQL statements, then times `reconcile()`. It does the
same first on a program a tenth the size (--small-partners, --small-entries), so
that the query counts can be set side by side, and it measures a ceiling in the
same run: one plain GROUP BY (partner, currency, kind) over the ledger through
psycopg. Then, on the large program, it renders statement PDFs: the fullest
statement that still fits on two pages (padded with pairs of adjustments that
cancel out when no statement has two pages) and the fullest one-page statement,
--pdf-repeats times each after one warm-up rendering; it prints their median and
95th percentile. WeasyPrint's progress log (INFO) is silenced while rendering.
The last line printed is one JSON object with every figure.

Queries are the statements Django sends, counted with connection.execute_wrapper
(no SQL text kept). The load runs with the foreign-key triggers off (the data is
consistent by construction) and ends with VACUUM ANALYZE, which is not timed.

Targets (the issue, on a 2-core machine): the run <= 60 s for 5,000 partners and
500,000 entries, a two-page statement PDF <= 0.5 s (median), queries per run
independent of the number of partners.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.evaluate import (  # noqa: E402 (the project root goes on sys.path first)
    QueryCounter,
    _money,
    _row,
    configure,
    copy_lines,
    drop_database,
    foreign_key_checks_skipped,
    migrate,
    raw_connect,
    recreate_database,
    reset_sequences,
    vacuum_analyze,
)

PERIOD = datetime.date(2027, 5, 1)
PERIOD_END = datetime.date(2027, 5, 31)
AS_OF = datetime.date(2027, 6, 1)
HISTORY_START = datetime.date(2026, 6, 1)  # the earliest entry date
SIGNING_START = datetime.date(2025, 6, 1)  # the earliest engagement
TIER_SINCE = datetime.date(2023, 1, 1)
TARGETS = {"run_s": 60, "pdf_two_page_median_s": 0.5}
TIERS = ("authorized", "silver", "gold", "platinum")
CURRENCIES = ("USD",) * 8 + ("EUR",) * 2 + ("GBP",)
ENGAGEMENTS_PER_PARTNER = (2, 6)  # about four on average
IN_PERIOD_SHARE = 0.45  # entries dated inside the period paid
LATE_SHARE = 0.01  # entries dated after it (they stay pending)
CLAWBACK_SHARE = 0.12  # of the entries that are not standard commissions
ADJUSTMENT_SHARE = 0.06
REVERSAL_SHARE = 0.15  # of the clawbacks
ACTIVITY_SIGMA = 0.8  # lognormal spread of the partners' and the engagements' activity
CARRY_SHARE = 0.04  # of the partners, for each of: negative balance, under the minimum
TIMESTAMP = "2027-06-01 00:00:00+00"
TABLE_ORDER = (
    "partners",
    "tier_changes",
    "customers",
    "engagements",
    "rewards",
    "clawbacks",
    "entries",
)
LEDGER_COLUMNS = (
    "id",
    "partner_id",
    "engagement_id",
    "reward_id",
    "clawback_id",
    "paid_statement_id",
    "kind",
    "amount",
    "currency",
    "effective_date",
    "reason",
    "created_at",
    "created_by_id",
)
CEILING_SQL = (
    "SELECT partner_id, currency, kind, sum(amount) FROM payouts_ledgerentry GROUP BY 1, 2, 3"
)
ADJUSTMENT_REASONS = (
    "Deal registered twice: duplicate commission recovered",
    "Marketing development funds, Q2 campaign",
    "Goodwill credit agreed with the channel manager",
    "Commission rate corrected after the contract review",
    "Referral bonus for a joint event",
)
NAME_WORDS = ("Northwind", "Blue Harbor", "Alder", "Quantum", "Red Cedar", "Summit", "Meridian")
NAME_KINDS = ("Logistics", "Health", "Analytics", "Foods", "Legal", "Robotics", "Media", "Energy")
NAME_SUFFIXES = ("Ltd", "GmbH", "Inc.", "S.A.", "LLC", "B.V.")
MAX_PAD_LINES = 400


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=5000)
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument(
        "--small-partners",
        type=int,
        default=None,
        help="partners of the comparison program (default: a tenth of --partners)",
    )
    parser.add_argument(
        "--small-entries",
        type=int,
        default=None,
        help="ledger entries of the comparison program (default: a tenth of --entries)",
    )
    parser.add_argument("--pdf-repeats", type=int, default=20, metavar="N")
    parser.add_argument("--seed", type=int, default=20270601)
    parser.add_argument(
        "--database", help="database to drop and recreate (default: DATABASE_URL's or portal_bench)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="run the large program's payout run under cProfile and print the top N "
        "functions (its time is then the profiled one)",
    )
    args = parser.parse_args(argv)
    if args.small_partners is None:
        args.small_partners = max(args.partners // 10, 1)
    if args.small_entries is None:
        args.small_entries = max(args.entries // 10, 1)
    for partners, entries, option in (
        (args.partners, args.entries, "--entries"),
        (args.small_partners, args.small_entries, "--small-entries"),
    ):
        if partners < 1:
            parser.error("every program needs at least one partner")
        if entries < 10 * partners:
            parser.error(
                f"{option} must be at least 10 times the partners ({entries} < 10 x {partners}): "
                "each partner has about four engagements with a standard commission each"
            )
    if args.pdf_repeats < 1:
        parser.error("--pdf-repeats must be at least 1")
    return args


def _days(start, end):
    return (end - start).days


def _entry_date(rng):
    """Most entries before the period, many inside it, a few after it."""
    draw = rng.random()
    if draw < LATE_SHARE:
        return AS_OF
    if draw < LATE_SHARE + IN_PERIOD_SHARE:
        return PERIOD + datetime.timedelta(days=rng.randint(0, _days(PERIOD, PERIOD_END)))
    last = PERIOD - datetime.timedelta(days=1)
    return HISTORY_START + datetime.timedelta(days=rng.randint(0, _days(HISTORY_START, last)))


def _customer_name(rng, eid):
    return f"{rng.choice(NAME_WORDS)} {rng.choice(NAME_KINDS)} {rng.choice(NAME_SUFFIXES)} #{eid}"


def _clawback_reason(kind, step_key, percent, cause_date):
    """The reason cascades.evaluation gives a clawback's ledger entry (its percent in
    fixed-point notation: Decimal("100").normalize() would print 1E+2)."""
    if kind == "reversal":
        return f"Reversal of {step_key}: churn dated {cause_date:%Y-%m-%d}"
    return (
        f"Clawback of {step_key} ({percent.normalize():f} %): "
        f"churn or chargeback on {cause_date:%Y-%m-%d}"
    )


def generate(partners_count, entries_count, seed):
    """Write the program with COPY; returns what was written."""
    from django.conf import settings

    from cascades.models import CascadeStructure
    from cascades.structures import Structure, validate_document

    rng = random.Random(seed)
    structures = {}
    for tier in TIERS:
        row = CascadeStructure.objects.current_for(tier)
        if row is None:
            sys.exit(f"The migrations loaded no structure for the {tier} tier.")
        structure = Structure.from_document(validate_document(row.document))
        snapshot = json.dumps(structure.snapshot(), separators=(",", ":"))
        repeat = next((step for step in structure.steps if step.repeat), structure.steps[-1])
        structures[tier] = (row.id, snapshot, structure, repeat)

    rows = {name: [] for name in TABLE_ORDER}
    engagements = []  # index eid - 1: (partner_id, currency, signed_at, tier, year1_acv)
    cumulative, activity = [], 0.0  # how often an engagement earns, some much more than others
    partner_currencies = defaultdict(set)
    last_before_period = PERIOD - datetime.timedelta(days=1)
    for pid in range(1, partners_count + 1):
        tier = TIERS[(pid - 1) % len(TIERS)]
        rows["partners"].append(_row(pid, f"bench-p{pid}", f"Partner {pid}", "active", TIMESTAMP))
        rows["tier_changes"].append(_row(pid, tier, TIER_SINCE, TIMESTAMP, None, ""))
        structure_id, snapshot, structure, _ = structures[tier]
        partner_activity = rng.lognormvariate(0, ACTIVITY_SIGMA)
        for _ in range(rng.randint(*ENGAGEMENTS_PER_PARTNER)):
            eid = len(engagements) + 1
            currency = rng.choice(CURRENCIES)
            if rng.random() < 0.15:  # signed inside the period: its commission is new
                signed = PERIOD + datetime.timedelta(days=rng.randint(0, _days(PERIOD, PERIOD_END)))
            else:
                span = _days(SIGNING_START, last_before_period)
                signed = SIGNING_START + datetime.timedelta(days=rng.randint(0, span))
            year1_acv = _money(rng, 5_000, 120_000)
            rows["customers"].append(
                _row(eid, f"bench-c{eid}", _customer_name(rng, eid), f"c{eid}@example.com",
                     TIMESTAMP)
            )  # fmt: skip
            rows["engagements"].append(
                _row(eid, f"bench-e{eid}", pid, eid, signed, tier, currency, year1_acv,
                     structure_id, snapshot, TIMESTAMP)
            )  # fmt: skip
            engagements.append((pid, currency, signed, tier, year1_acv))
            partner_currencies[pid].add(currency)
            activity += partner_activity * rng.lognormvariate(0, ACTIVITY_SIGMA)
            cumulative.append(activity)

    n_engagements = len(engagements)

    def busy_engagement():
        return rng.choices(range(1, n_engagements + 1), cum_weights=cumulative)[0]

    carry_partners = max(1, round(partners_count * CARRY_SHARE))
    carry_partners = min(carry_partners, partners_count // 2)
    free = entries_count - n_engagements - 2 * carry_partners
    n_clawbacks = int(free * CLAWBACK_SHARE)
    n_adjustments = int(free * ADJUSTMENT_SHARE)
    n_rewards = free - n_clawbacks - n_adjustments

    entries = []  # (date, partner, engagement, reward, clawback, kind, amount, currency, reason)
    balances = defaultdict(Decimal)  # (partner, currency) → entries up to the period's end

    def add_entry(day, pid, eid, reward_id, clawback_id, kind, amount, currency, reason=""):
        entries.append((day, pid, eid, reward_id, clawback_id, kind, amount, currency, reason))
        if day <= PERIOD_END:
            balances[(pid, currency)] += amount

    for eid, (pid, currency, signed, tier, year1_acv) in enumerate(engagements, start=1):
        percent = structures[tier][2].standard_commission_percent
        amount = (year1_acv * percent / 100).quantize(Decimal("0.01"))
        add_entry(signed, pid, eid, None, None, "standard_commission", amount, currency)

    rewards = []  # index reward id - 1: (engagement, step_key, trigger_date, amount, currency)
    per_engagement = Counter()
    for reward_id in range(1, n_rewards + 1):
        eid = busy_engagement()
        pid, currency, signed, tier, _ = engagements[eid - 1]
        structure, repeat = structures[tier][2], structures[tier][3]
        index = per_engagement[eid]
        per_engagement[eid] += 1
        if index < len(structure.steps):
            step, event_key = structure.steps[index], ""
        else:  # a repeat step fires once per event: its event key keeps the row unique
            step, event_key = repeat, f"bench-evt-{eid}-{index}"
        trigger = _entry_date(rng)
        if trigger < signed:
            trigger = signed + datetime.timedelta(days=rng.randint(0, _days(signed, PERIOD_END)))
        amount = _money(rng, 20, 2500)
        rows["rewards"].append(
            _row(reward_id, eid, step.key, step.kind, event_key, trigger, amount, currency,
                 f"{trigger} 05:00:00+00")
        )  # fmt: skip
        rewards.append((eid, step.key, trigger, amount, currency))
        add_entry(trigger, pid, eid, reward_id, None, "cascade_reward", amount, currency)

    clawbacks_by_kind = Counter()
    clawed = rng.sample(range(1, n_rewards + 1), min(n_clawbacks, n_rewards))
    for clawback_id, reward_id in enumerate(clawed, start=1):
        eid, step_key, trigger, reward_amount, currency = rewards[reward_id - 1]
        pid = engagements[eid - 1][0]
        if trigger >= PERIOD_END:
            cause = AS_OF
        else:
            cause = trigger + datetime.timedelta(
                days=rng.randint(1, min(89, _days(trigger, PERIOD_END)))
            )
        if rng.random() < REVERSAL_SHARE:
            kind, percent, effective = "reversal", Decimal(100), trigger
        else:
            kind, percent, effective = "clawback", Decimal(rng.choice((50, 100, 100))), cause
        amount = (reward_amount * percent / 100).quantize(Decimal("0.01"))
        clawbacks_by_kind[kind] += 1
        rows["clawbacks"].append(
            _row(clawback_id, reward_id, kind, None, cause, percent, 90, amount,
                 f"{cause} 05:00:00+00")
        )  # fmt: skip
        add_entry(effective, pid, eid, reward_id, clawback_id, "clawback", -amount, currency,
                  _clawback_reason(kind, step_key, percent, cause))  # fmt: skip

    for _ in range(n_adjustments):
        eid = busy_engagement()
        pid, currency = engagements[eid - 1][:2]
        amount = _money(rng, -400, 900) or Decimal("1.00")
        add_entry(_entry_date(rng), pid, eid if rng.random() < 0.5 else None, None, None,
                  "adjustment", amount, currency, rng.choice(ADJUSTMENT_REASONS))  # fmt: skip

    # Carry-forward: one more adjustment leaves a balance below zero or under the minimum.
    chosen = rng.sample(range(1, partners_count + 1), 2 * carry_partners)
    minimum = Decimal(settings.MINIMUM_PAYOUT)
    for position, pid in enumerate(chosen):
        currency = rng.choice(sorted(partner_currencies[pid]))
        if position < carry_partners:
            target = -_money(rng, 10, 3000)
            reason = "Recovery of an overpaid commission"
        else:
            target = _money(rng, 1, max(int(minimum) - 1, 2))
            reason = "Commission rate corrected after the contract review"
        amount = target - balances[(pid, currency)] or Decimal("-0.01")
        day = PERIOD_END - datetime.timedelta(days=rng.randint(0, 20))
        add_entry(day, pid, None, None, None, "adjustment", amount, currency, reason)

    entries.sort(key=lambda entry: entry[0])  # in the order they were posted; a stable sort
    kinds = Counter()
    for entry_id, (day, pid, eid, reward_id, clawback_id, kind, amount, currency, reason) in (
        enumerate(entries, start=1)
    ):  # fmt: skip
        kinds[kind] += 1
        rows["entries"].append(
            _row(entry_id, pid, eid, reward_id, clawback_id, None, kind, amount, currency, day,
                 reason, f"{day} 06:00:00+00", None)
        )  # fmt: skip

    with foreign_key_checks_skipped():
        write_program(rows)
    return {
        "partners": partners_count,
        "engagements": n_engagements,
        "engagements_by_currency": dict(sorted(Counter(e[1] for e in engagements).items())),
        "entries": len(entries),
        "entries_by_kind": dict(sorted(kinds.items())),
        "entries_in_period": sum(1 for e in entries if e[0] >= PERIOD and e[0] <= PERIOD_END),
        "entries_after_period": sum(1 for e in entries if e[0] > PERIOD_END),
        "rewards": len(rewards),
        "clawbacks_by_kind": dict(sorted(clawbacks_by_kind.items())),
        "carry_negative_partners": carry_partners,
        "carry_under_minimum_partners": carry_partners,
    }


def write_program(rows):
    """COPY the generated rows, parents first."""
    from cascades.models import Clawback, Customer, Engagement, Reward
    from payouts.models import LedgerEntry
    from portal.models import Partner, TierChange

    copy_lines(Partner, ("id", "external_id", "name", "status", "created_at"), rows["partners"])
    copy_lines(
        TierChange,
        ("partner_id", "tier", "effective", "created_at", "created_by_id", "note"),
        rows["tier_changes"],
    )
    copy_lines(
        Customer, ("id", "external_id", "name", "contact_email", "created_at"), rows["customers"]
    )
    copy_lines(
        Engagement,
        ("id", "external_id", "partner_id", "customer_id", "signed_at", "tier", "currency",
         "year1_acv", "structure_id", "snapshot", "created_at"),
        rows["engagements"],
    )  # fmt: skip
    copy_lines(
        Reward,
        ("id", "engagement_id", "step_key", "step_kind", "event_key", "trigger_date", "amount",
         "currency", "created_at"),
        rows["rewards"],
    )  # fmt: skip
    copy_lines(
        Clawback,
        ("id", "reward_id", "kind", "cause_id", "cause_date", "percent", "window_days", "amount",
         "created_at"),
        rows["clawbacks"],
    )  # fmt: skip
    copy_lines(LedgerEntry, LEDGER_COLUMNS, rows["entries"])
    reset_sequences(Partner, Customer, Engagement, Reward, Clawback, LedgerEntry)


# --- measuring ------------------------------------------------------------------------------


def ceiling(name):
    """One plain GROUP BY over the ledger through psycopg: the run's first and biggest read,
    with nothing else."""
    start = time.perf_counter()
    with raw_connect(name) as conn:
        groups = len(conn.execute(CEILING_SQL).fetchall())
    return time.perf_counter() - start, groups


def run_facts(run):
    from django.db.models import Count, Q, Sum
    from django_q.models import OrmQ

    from payouts.models import LedgerEntry, Statement, StatementLine

    statements = Statement.objects.filter(run=run)
    facts = statements.aggregate(
        statements=Count("id"),
        paid=Count("id", filter=Q(payable__gt=0)),
        carried_negative=Count("id", filter=Q(payable=0, closing_balance__lt=0)),
        carried_zero=Count("id", filter=Q(payable=0, closing_balance=0)),
        carried_under_minimum=Count("id", filter=Q(payable=0, closing_balance__gt=0)),
        payable=Sum("payable"),
    )
    facts["by_currency"] = dict(
        statements.order_by()
        .values_list("currency")
        .annotate(n=Count("id"))
        .values_list("currency", "n")
    )
    facts["payable"] = str(facts["payable"] or 0)
    facts["lines"] = StatementLine.objects.filter(statement__run=run).count()
    facts["pending_entries"] = (
        LedgerEntry.objects.filter(line__isnull=True).exclude(kind="payout").count()
    )
    facts["queue_rows"] = OrmQ.objects.count()
    return facts


def measure_run(label, *, profile=0):
    from django.db import connection

    from payouts.services import payout_run_create

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
        run, created = payout_run_create(month=PERIOD, as_of=AS_OF)
        if profiler is not None:
            profiler.disable()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if not created:
        sys.exit(f"The run for {PERIOD:%Y-%m} existed already: the database was not fresh.")
    facts = run_facts(run)
    print(
        f"  {label:<12} {elapsed:8.2f} s  (python cpu {cpu:6.2f} s)  "
        f"{counter.total:3d} queries {dict(sorted(counter.by_verb.items()))}",
        flush=True,
    )
    print(
        f"  {'':<12} {facts['statements']} statements {facts['by_currency']}: {facts['paid']} "
        f"paid ({facts['payable']} payable), carried forward: {facts['carried_negative']} "
        f"negative, {facts['carried_under_minimum']} under the minimum, "
        f"{facts['carried_zero']} at zero; {facts['lines']} lines, "
        f"{facts['pending_entries']} entries left pending, {facts['queue_rows']} queue row(s)",
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
    return run, {
        "s": round(elapsed, 3),
        "cpu_s": round(cpu, 3),
        "queries": counter.total,
        "queries_by_verb": dict(sorted(counter.by_verb.items())),
        **facts,
    }


def measure_reconcile():
    from payouts.reconciliation import reconcile

    start = time.perf_counter()
    problems = reconcile()
    elapsed = time.perf_counter() - start
    print(f"  reconcile    {elapsed:8.2f} s  {len(problems)} problem(s)", flush=True)
    for problem in problems[:5]:
        print(f"    {problem}", flush=True)
    return {"s": round(elapsed, 3), "problems": len(problems)}


def run_program(label, name, partners, entries, args, *, profile=0):
    print(f"\n== {label} program: {partners} partners, ~{entries} ledger entries ==", flush=True)
    start = time.perf_counter()
    recreate_database(name)
    migrate()
    migrate_s = time.perf_counter() - start

    start = time.perf_counter()
    facts = generate(partners, entries, args.seed + partners)
    generate_s = time.perf_counter() - start
    start = time.perf_counter()
    vacuum_analyze(name)
    vacuum_s = time.perf_counter() - start
    print(
        f"  database recreated and migrated in {migrate_s:.1f} s; generated in {generate_s:.1f} s "
        f"(then VACUUM ANALYZE {vacuum_s:.1f} s): {facts['partners']} partners, "
        f"{facts['engagements']} engagements {facts['engagements_by_currency']}, "
        f"{facts['rewards']} rewards, clawbacks {facts['clawbacks_by_kind']}",
        flush=True,
    )
    print(
        f"  {facts['entries']} ledger entries {facts['entries_by_kind']}: "
        f"{facts['entries_in_period']} in {PERIOD:%Y-%m}, {facts['entries_after_period']} after it",
        flush=True,
    )

    ceiling_before, groups = ceiling(name)
    print(
        f"  ceiling: GROUP BY partner, currency, kind over the ledger ({groups} groups) "
        f"in {ceiling_before:.2f} s",
        flush=True,
    )
    run, measured = measure_run("run", profile=profile)
    reconciled = measure_reconcile()
    ceiling_after, _ = ceiling(name)
    ceiling_s = min(ceiling_before, ceiling_after)
    print(
        f"  ceiling again: {ceiling_after:.2f} s; best {ceiling_s:.2f} s -> the run = "
        f"{measured['s'] / ceiling_s:.1f}x the GROUP BY",
        flush=True,
    )
    return run, {
        "partners": facts["partners"],
        "engagements": facts["engagements"],
        "entries": facts["entries"],
        "entries_by_kind": facts["entries_by_kind"],
        "entries_in_period": facts["entries_in_period"],
        "entries_after_period": facts["entries_after_period"],
        "rewards": facts["rewards"],
        "clawbacks_by_kind": facts["clawbacks_by_kind"],
        "generate_s": round(generate_s, 2),
        "migrate_s": round(migrate_s, 2),
        "ceiling_s": round(ceiling_s, 3),
        "run": measured,
        "reconcile": reconciled,
    }


# --- statement PDFs -------------------------------------------------------------------------


def pdf_pages(data):
    """The page count of a PDF: pdfinfo's, else the page objects counted."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(data)
        file.flush()
        try:
            out = subprocess.run(
                ["pdfinfo", file.name], capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
    match = re.search(r"^Pages:\s+(\d+)", out, re.MULTILINE)
    return int(match.group(1))


def _statement(statement_id):
    from payouts.models import Statement

    # As payouts.services.statement_issue_pdf loads it.
    return Statement.objects.select_related("run__period", "partner").get(pk=statement_id)


def _render(statement_id):
    from payouts.pdf import statement_pdf_bytes

    return statement_pdf_bytes(_statement(statement_id))


def statements_by_size(run):
    """(weight, statement id, lines, exposure items) of the run's statements, smallest first;
    the weight is the rows the document shows."""
    from django.db.models import Count, Func, IntegerField

    rows = (
        run.statements.annotate(
            n_lines=Count("lines"),
            n_exposure=Func(
                "clawback_exposure", function="jsonb_array_length", output_field=IntegerField()
            ),
        )
        .order_by()
        .values_list("id", "n_lines", "n_exposure")
    )
    return sorted((lines + exposure, sid, lines, exposure) for sid, lines, exposure in rows)


def fullest_with_pages(candidates, pages_wanted, cache):
    """The fullest statement whose PDF has `pages_wanted` pages, by bisection on the weight
    (pages grow with it, nearly monotonically), then a few neighbours; or None."""

    def pages(index):
        sid = candidates[index][1]
        if sid not in cache:
            cache[sid] = pdf_pages(_render(sid))
        return cache[sid]

    low, high = 0, len(candidates) - 1
    if pages(low) > pages_wanted:
        return None
    while low < high:  # the last index with pages <= pages_wanted
        middle = (low + high + 1) // 2
        if pages(middle) <= pages_wanted:
            low = middle
        else:
            high = middle - 1
    for index in range(low, max(low - 12, -1), -1):
        if pages(index) == pages_wanted:
            return candidates[index]
    return None


def pad_to_two_pages(statement_id, cache):
    """Give a one-page statement pairs of adjustments that cancel out (+x, -x) until its
    PDF has two pages: its figures, the ledger's sums and the reconciliation are unchanged."""
    from django.db import transaction

    from payouts.models import LedgerEntry, StatementLine

    statement = _statement(statement_id)
    rng = random.Random(statement_id)
    added = 0
    pages = cache.get(statement_id) or pdf_pages(_render(statement_id))
    while pages < 2 and added < MAX_PAD_LINES:
        with transaction.atomic():
            new = []
            for _ in range(5):
                amount = _money(rng, 10, 900)
                day = PERIOD_END - datetime.timedelta(days=rng.randint(0, 25))
                for sign, reason in ((1, "Correction entered twice"),
                                     (-1, "Reversal of the duplicate correction")):  # fmt: skip
                    new.append(
                        LedgerEntry(
                            partner_id=statement.partner_id,
                            kind=LedgerEntry.Kind.ADJUSTMENT,
                            amount=sign * amount,
                            currency=statement.currency,
                            effective_date=day,
                            reason=reason,
                        )
                    )
            LedgerEntry.objects.bulk_create(new)
            StatementLine.objects.bulk_create(
                StatementLine(statement_id=statement_id, entry=entry) for entry in new
            )
        added += len(new)
        pages = pdf_pages(_render(statement_id))
    cache[statement_id] = pages
    return added if pages == 2 else None


def time_renders(statement_id, repeats):
    from django.db import connection

    from payouts.pdf import statement_pdf_bytes

    statement = _statement(statement_id)
    counter = QueryCounter()
    times = []
    for _ in range(repeats):
        counter.total = 0
        start = time.perf_counter()
        with connection.execute_wrapper(counter):
            data = statement_pdf_bytes(statement)
        times.append(time.perf_counter() - start)
    p95 = statistics.quantiles(times, n=100, method="inclusive")[94] if repeats > 1 else times[0]
    return {
        "statement": statement_id,
        "pages": pdf_pages(data),
        "bytes": len(data),
        "renders": repeats,
        "median_s": round(statistics.median(times), 4),
        "p95_s": round(p95, 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "queries": counter.total,
    }


def measure_pdfs(run, repeats):
    print(f"\n== statement PDFs ({repeats} renderings each, after a warm-up) ==", flush=True)
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    candidates = statements_by_size(run)
    start = time.perf_counter()
    _render(candidates[0][1])
    cold_s = time.perf_counter() - start
    print(
        f"  first rendering in this process (fonts, stylesheets): {cold_s:.2f} s; "
        f"statements hold {candidates[0][0]}..{candidates[-1][0]} rows "
        f"(median {candidates[len(candidates) // 2][0]}: lines and exposure items)",
        flush=True,
    )
    cache = {}
    search_start = time.perf_counter()
    two = fullest_with_pages(candidates, 2, cache)
    padded = 0
    if two is None:
        one = fullest_with_pages(candidates, 1, cache) or candidates[-1]
        padded = pad_to_two_pages(one[1], cache)
        if padded is None:
            sys.exit(f"Statement {one[1]} could not be given exactly two pages.")
        two = next(c for c in statements_by_size(run) if c[1] == one[1])
        print(
            f"  no statement had two pages: statement {two[1]} got {padded} adjustment lines "
            "that cancel out",
            flush=True,
        )
    one = fullest_with_pages(candidates, 1, cache)
    print(
        f"  picked by rendering {len(cache)} statements in {time.perf_counter() - search_start:.1f}"
        f" s; page counts seen: {dict(sorted(Counter(cache.values()).items()))}",
        flush=True,
    )
    results = {}
    for key, picked in (("two_page", two), ("one_page", one)):
        if picked is None:
            print(f"  {key}: no such statement", flush=True)
            continue
        weight, sid, lines, exposure = picked
        figures = time_renders(sid, repeats)
        figures.update(lines=lines, exposure_items=exposure)
        results[key] = figures
        print(
            f"  {key:<9} statement {sid} ({lines} lines, {exposure} exposure items, "
            f"{figures['pages']} pages, {figures['bytes']} bytes, {figures['queries']} queries): "
            f"median {figures['median_s']:.3f} s, p95 {figures['p95_s']:.3f} s "
            f"(min {figures['min_s']:.3f}, max {figures['max_s']:.3f})",
            flush=True,
        )
    results["cold_s"] = round(cold_s, 3)
    results["padded_lines"] = padded
    if padded:
        results["reconcile_after_padding"] = measure_reconcile()
    return results


def main(argv=None):
    args = parse_args(argv)
    name = configure(args, script="bench/payouts.py")
    from django.conf import settings
    from django.db import connection

    print(
        f"Payout run benchmark: database {name!r} on "
        f"{connection.settings_dict['HOST'] or 'local socket'}, period {PERIOD:%Y-%m} as of "
        f"{AS_OF}, minimum payout {settings.MINIMUM_PAYOUT}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        flush=True,
    )
    try:
        _, small = run_program("small", name, args.small_partners, args.small_entries, args)
        run, large = run_program(
            "large", name, args.partners, args.entries, args, profile=args.profile
        )
        pdfs = measure_pdfs(run, args.pdf_repeats)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server_version = cursor.fetchone()[0]
    finally:
        if args.keep:
            print(f"\nKept database {name!r}.")
        else:
            drop_database(name)
            print(f"\nDropped database {name!r}.")

    two, one = pdfs.get("two_page"), pdfs.get("one_page")
    print(f"\n{'':<22}{'seconds':>10}{'target':>8}{'queries':>9}{'small':>7}   (small program)")
    run_s = large["run"]["s"]
    print(
        f"{'payout run':<22}{run_s:10.2f}{TARGETS['run_s']:8d}{large['run']['queries']:9d}"
        f"{small['run']['queries']:7d}   {'ok' if run_s <= TARGETS['run_s'] else 'MISSED'}"
        f"  ({large['run']['statements']} / {small['run']['statements']} statements)"
    )
    print(
        f"{'reconcile':<22}{large['reconcile']['s']:10.2f}{'':>8}{'':>9}{'':>7}   "
        f"{large['reconcile']['problems']} / {small['reconcile']['problems']} problems"
    )
    target = TARGETS["pdf_two_page_median_s"]
    for label, figures in (("two-page PDF median", two), ("one-page PDF median", one)):
        if figures is None:
            continue
        verdict = ""
        if figures is two:
            verdict = "ok" if figures["median_s"] <= target else "MISSED"
        print(
            f"{label:<22}{figures['median_s']:10.3f}{target if figures is two else '':>8}"
            f"{figures['queries']:9d}{'':>7}   {verdict}  (p95 {figures['p95_s']:.3f} s)"
        )
    ceiling_s = large["ceiling_s"]
    print(
        f"ceiling: the GROUP BY over {large['entries']} entries took {ceiling_s:.2f} s; "
        f"the run = {run_s / ceiling_s:.1f}x that"
    )
    same_queries = small["run"]["queries"] == large["run"]["queries"]
    print(
        "queries independent of the number of partners: "
        + ("yes" if same_queries else "NO (see the counts above)")
        + f" ({large['partners']} vs {small['partners']} partners)"
    )

    figures = {
        "partners": large["partners"],
        "engagements": large["engagements"],
        "entries": large["entries"],
        "entries_by_kind": large["entries_by_kind"],
        "entries_in_period": large["entries_in_period"],
        "entries_after_period": large["entries_after_period"],
        "rewards": large["rewards"],
        "clawbacks_by_kind": large["clawbacks_by_kind"],
        "period": f"{PERIOD:%Y-%m}",
        "as_of": AS_OF.isoformat(),
        "generate_s": large["generate_s"],
        "run_s": run_s,
        "run_cpu_s": large["run"]["cpu_s"],
        "run_queries": large["run"]["queries"],
        "run_queries_by_verb": large["run"]["queries_by_verb"],
        "statements": large["run"]["statements"],
        "statements_by_currency": large["run"]["by_currency"],
        "statements_paid": large["run"]["paid"],
        "statements_carried_negative": large["run"]["carried_negative"],
        "statements_carried_under_minimum": large["run"]["carried_under_minimum"],
        "statements_carried_zero": large["run"]["carried_zero"],
        "statement_lines": large["run"]["lines"],
        "entries_left_pending": large["run"]["pending_entries"],
        "queue_rows": large["run"]["queue_rows"],
        "reconcile_s": large["reconcile"]["s"],
        "reconcile_problems": large["reconcile"]["problems"],
        "small_partners": small["partners"],
        "small_entries": small["entries"],
        "small_run_s": small["run"]["s"],
        "small_run_queries": small["run"]["queries"],
        "small_statements": small["run"]["statements"],
        "small_reconcile_problems": small["reconcile"]["problems"],
        "queries_independent": same_queries,
        "ceiling_s": ceiling_s,
        "run_over_ceiling": round(run_s / ceiling_s, 2),
        "small_ceiling_s": small["ceiling_s"],
        "pdf_two_page_median_s": two and two["median_s"],
        "pdf_two_page_p95_s": two and two["p95_s"],
        "pdf_one_page_median_s": one and one["median_s"],
        "pdf_one_page_p95_s": one and one["p95_s"],
        "pdf_two_page": two,
        "pdf_one_page": one,
        "pdf_cold_s": pdfs["cold_s"],
        "pdf_padded_lines": pdfs["padded_lines"],
        "targets": TARGETS,
        "targets_met": {
            "run_s": run_s <= TARGETS["run_s"],
            "pdf_two_page_median_s": bool(two) and two["median_s"] <= target,
        },
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
