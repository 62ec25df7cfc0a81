"""Fault suite: evaluations and payout runs at once, killed and restarted, on PostgreSQL.

From the project root (CI runs it after the tests):

    DATABASE_URL=postgres://root@127.0.0.1:5432/portal_faults .venv/bin/python faults/run.py

It builds a program (partners, engagements, a year and more of signals of every type,
outcome agreements, staff adjustments) in a template database, copies it twice, and
takes both copies through the same steps: evaluations as of two dates and payout runs
for three months. The reference copy runs each step once, undisturbed. The other runs
several evaluators and payout runs at once, SIGKILLs some of them part-way (the delays
are fractions of the reference's own durations, so the kills land mid-step), and runs
the step once more to completion, as a restarted worker would.

After every step it checks the faulty copy: `manage.py reconcile` is clean, no reward
has lost more than its amount, every statement is sealed with figures that are the sums
of its lines, every entry is on exactly one statement or pending, and no evaluation run
is left "running". It then compares rewards, clawbacks and ledger entries (and the
statements, where the step let no evaluation overlap a run) with the reference, to the
cent. The last line is one JSON object; the exit status is 1 if anything differs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import evaluate as bench  # noqa: E402 (after the path)

# (step, command arguments, how many run at once, kill delays as fractions of the
# reference's duration of the step, whether the statements must equal the reference's)
STEPS = [
    ("evaluate 2027-04-30", ["evaluate_cascades", "--as-of", "2027-04-30"], 3, (0.3, 0.6)),
    ("payout run 2027-03", ["run_payouts", "--period", "2027-03", "--as-of", "2027-04-30"],
     2, (0.5,)),
    ("payout run 2027-04", ["run_payouts", "--period", "2027-04", "--as-of", "2027-05-01"],
     1, (0.4,)),
]  # fmt: skip
# Last, an evaluation and the May run at once (the evaluation killed part-way): which
# run a reward committed meanwhile lands on may differ, what is owed may not.
OVERLAP = (
    ["evaluate_cascades", "--as-of", "2027-06-30"],
    ["run_payouts", "--period", "2027-05", "--as-of", "2027-06-30"],
)
FINAL = ["run_payouts", "--period", "2027-06", "--as-of", "2027-07-01"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engagements", type=int, default=4000)
    parser.add_argument("--signals-per-engagement", type=int, default=10)
    parser.add_argument("--partners", type=int, default=160)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--keep", action="store_true", help="Keep the databases afterwards.")
    return parser.parse_args(argv)


def configure():
    """Django on the template database (its name must contain 'faults': it is dropped)."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(f"faults/run.py needs PostgreSQL: set DATABASE_URL=postgres://... (got {url!r})")
    name = parts.path.lstrip("/") or "portal_faults"
    if "faults" not in name:
        sys.exit(f"Refusing to use {name!r}: the suite drops it; its name must contain 'faults'.")
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("SECRET_KEY", "faults-" + "x" * 60)
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    return name, parts


def build_template(name, args):
    from payouts.ledger import ledger_post_adjustment
    from portal.models import Partner

    bench.recreate_database(name)
    bench.migrate()
    program = bench.generate(args.engagements, args.signals_per_engagement, args.partners,
                             args.seed)  # fmt: skip
    # Staff adjustments, some in periods the runs will close, some after.
    for index, partner in enumerate(Partner.objects.order_by("id")[:40]):
        ledger_post_adjustment(
            partner=partner, amount=_cents(index),
            currency="USD", effective_date=datetime.date(2027, 2 + index % 5, 1 + index % 27),
            reason="Fault suite adjustment",
        )  # fmt: skip
    bench.vacuum_analyze(name)
    from django.db import connection

    connection.close()
    return program


def _cents(index):
    from decimal import Decimal

    return Decimal((index % 7 - 3) * 12_517 + 50) / 100


def copy_database(template, name):
    with bench.raw_connect("postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


class Database:
    """One copy of the program: its URL for the commands, and a connection for checks."""

    def __init__(self, parts, name):
        self.name = name
        self.url = urlunsplit(parts._replace(path="/" + name))

    def manage(self, *arguments):
        env = {**os.environ, "DATABASE_URL": self.url, "LOG_LEVEL": "WARNING"}
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *arguments],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *arguments):
        """Run a command to completion; its duration in seconds."""
        start = time.monotonic()
        process = self.manage(*arguments)
        out, err = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(arguments)} failed on {self.name}: {err or out}")
        return time.monotonic() - start

    def query(self, sql):
        with bench.raw_connect(self.name) as conn:
            return conn.execute(sql).fetchall()


REWARDS = """
    SELECT e.external_id, r.step_key, r.event_key, r.trigger_date, r.amount
    FROM cascades_reward r JOIN cascades_engagement e ON e.id = r.engagement_id
    ORDER BY 1, 2, 3"""
CLAWBACKS = """
    SELECT e.external_id, r.step_key, r.event_key, c.kind, c.amount, c.cause_date
    FROM cascades_clawback c JOIN cascades_reward r ON r.id = c.reward_id
    JOIN cascades_engagement e ON e.id = r.engagement_id ORDER BY 1, 2, 3, 4"""
LEDGER = """
    SELECT l.kind, p.external_id, COALESCE(e.external_id, ''), COALESCE(r.step_key, ''),
           COALESCE(r.event_key, ''), COALESCE(c.kind, ''), l.amount, l.effective_date,
           l.reason
    FROM payouts_ledgerentry l JOIN portal_partner p ON p.id = l.partner_id
    LEFT JOIN cascades_engagement e ON e.id = l.engagement_id
    LEFT JOIN cascades_reward r ON r.id = l.reward_id
    LEFT JOIN cascades_clawback c ON c.id = l.clawback_id
    WHERE l.kind <> 'payout' ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9"""
STATEMENTS = """
    SELECT to_char(m.month, 'YYYY-MM'), p.external_id, s.currency, s.opening_balance,
           s.standard_earnings, s.cascade_earnings, s.clawbacks, s.adjustments, s.payable,
           s.closing_balance,
           (SELECT count(*) FROM payouts_statementline l WHERE l.statement_id = s.id)
    FROM payouts_statement s JOIN payouts_payoutrun u ON u.id = s.run_id
    JOIN payouts_statementperiod m ON m.id = u.period_id
    JOIN portal_partner p ON p.id = s.partner_id ORDER BY 1, 2, 3"""
OWED = """
    SELECT p.external_id, l.currency, SUM(l.amount)
    FROM payouts_ledgerentry l JOIN portal_partner p ON p.id = l.partner_id
    GROUP BY 1, 2 ORDER BY 1, 2"""
# Made payable over all runs, plus what the latest run carries: with every entry settled,
# what each partner is owed (which run paid which part may differ).
SETTLED = """
    SELECT p.external_id, s.currency,
           SUM(s.payable) + COALESCE(SUM(s.closing_balance) FILTER (WHERE u.period_id = (
               SELECT period_id FROM payouts_payoutrun ORDER BY period_id DESC LIMIT 1)), 0)
    FROM payouts_statement s JOIN portal_partner p ON p.id = s.partner_id
    JOIN payouts_payoutrun u ON u.id = s.run_id
    GROUP BY 1, 2 ORDER BY 1, 2"""
PENDING = """
    SELECT count(*) FROM payouts_ledgerentry l
    WHERE l.kind <> 'payout' AND l.effective_date <= '2027-06-30'
      AND NOT EXISTS (SELECT 1 FROM payouts_statementline s WHERE s.entry_id = l.id)"""


def invariants(db):
    """What must hold after any step, however it was interrupted; a list of problems."""
    problems = []
    reconcile = db.manage("reconcile")
    out, err = reconcile.communicate(timeout=300)
    if reconcile.returncode != 0:
        problems.append(f"reconcile: {(out + err).strip()[:2000]}")
    over = db.query("""
        SELECT r.id FROM cascades_reward r JOIN cascades_clawback c ON c.reward_id = r.id
        GROUP BY r.id, r.amount HAVING SUM(c.amount) > r.amount""")
    if over:
        problems.append(f"{len(over)} rewards lost more than their amount")
    unsealed = db.query("SELECT count(*) FROM payouts_statement WHERE NOT sealed")[0][0]
    if unsealed:
        problems.append(f"{unsealed} statements not sealed")
    wrong = db.query("""
        SELECT s.id FROM payouts_statement s
        LEFT JOIN payouts_statementline l ON l.statement_id = s.id
        LEFT JOIN payouts_ledgerentry e ON e.id = l.entry_id
        GROUP BY s.id
        HAVING s.standard_earnings + s.cascade_earnings + s.clawbacks + s.adjustments
               <> COALESCE(SUM(e.amount), 0)""")
    if wrong:
        problems.append(f"{len(wrong)} statements whose figures are not their lines")
    twice = db.query(
        "SELECT entry_id FROM payouts_statementline GROUP BY entry_id HAVING count(*) > 1"
    )
    if twice:
        problems.append(f"{len(twice)} entries on more than one statement")
    for _ in range(20):  # a killed worker's session may take a moment to end
        running = db.query("SELECT id FROM cascades_evaluationrun WHERE status = 'running'")
        if not running:
            break
        time.sleep(0.5)
        db.run("shell", "-c", "from cascades.evaluation import evaluation_runs_sweep as s; s()")
    else:
        problems.append(f"evaluation runs left running: {[r[0] for r in running]}")
    return problems


def differences(ref, run, queries):
    found = []
    for label, sql in queries:
        expected, actual = ref.query(sql), run.query(sql)
        if expected != actual:
            missing = len(set(expected) - set(actual))
            extra = len(set(actual) - set(expected))
            found.append(f"{label}: {missing} rows missing, {extra} rows extra")
    return found


def disturbed(db, arguments, copies, kills):
    """Run `copies` of a command at once, SIGKILL some part-way, then run it once more."""
    processes = [db.manage(*arguments) for _ in range(copies)]
    killed = 0
    start = time.monotonic()
    for process, delay in zip(processes, kills, strict=False):
        time.sleep(max(0.0, delay - (time.monotonic() - start)))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
    for process in processes:
        out, err = process.communicate(timeout=600)
        if process.returncode not in (0, -signal.SIGKILL):
            raise RuntimeError(f"{' '.join(arguments)}: {err or out}")
    db.run(*arguments)  # restarted
    return killed


def main(argv=None):
    args = parse_args(argv)
    template, parts = configure()
    started = time.monotonic()
    program = build_template(template, args)
    ref, run = Database(parts, template + "_ref"), Database(parts, template + "_run")
    copy_database(template, ref.name)
    copy_database(template, run.name)
    report = {"program": program, "steps": [], "problems": []}
    core = [("rewards", REWARDS), ("clawbacks", CLAWBACKS), ("ledger", LEDGER)]
    try:
        for label, arguments, copies, fractions in STEPS:
            seconds = ref.run(*arguments)
            kills = [seconds * f for f in fractions]
            killed = disturbed(run, arguments, copies, kills)
            problems = invariants(run) + differences(ref, run, [*core, ("statements", STATEMENTS)])
            report["steps"].append(
                {
                    "step": label,
                    "reference_s": round(seconds, 2),
                    "copies": copies,
                    "killed": killed,
                    "ok": not problems,
                }
            )
            report["problems"] += [f"{label}: {p}" for p in problems]

        evaluation, payout_run = OVERLAP
        seconds = ref.run(*evaluation)
        ref.run(*payout_run)
        processes = [run.manage(*evaluation), run.manage(*payout_run)]
        time.sleep(seconds * 0.5)
        killed = 0
        if processes[0].poll() is None:
            processes[0].send_signal(signal.SIGKILL)
            killed = 1
        for process in processes:
            process.communicate(timeout=600)
        run.run(*evaluation)
        run.run(*payout_run)
        problems = invariants(run) + differences(ref, run, core)
        report["steps"].append({"step": "evaluate 2027-06-30 during payout run 2027-05",
                                "reference_s": round(seconds, 2), "killed": killed,
                                "ok": not problems})  # fmt: skip
        report["problems"] += [f"overlap: {p}" for p in problems]

        # The June run takes in whatever the overlap left pending: by then each partner
        # has been made payable, and is owed, exactly what the reference says.
        ref.run(*FINAL)
        run.run(*FINAL)
        problems = invariants(run) + differences(
            ref, run, [*core, ("owed", OWED), ("settled", SETTLED)]
        )
        if run.query(PENDING)[0][0]:
            problems.append("entries dated by 2027-06-30 left off every statement")
        report["steps"].append({"step": "payout run 2027-06", "ok": not problems})
        report["problems"] += [f"final: {p}" for p in problems]
    finally:
        if not args.keep:
            for name in (ref.name, run.name, template):
                bench.drop_database(name)
    report["seconds"] = round(time.monotonic() - started, 1)
    report["ok"] = not report["problems"]
    for step in report["steps"]:
        print(json.dumps(step))
    for problem in report["problems"]:
        print("PROBLEM:", problem)
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
