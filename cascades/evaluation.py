"""Evaluation as a service: load engagements in sets, run the pure engine, write what fired.

The reads are a handful of streamed queries merged by customer, whatever the
number of engagements; the writes are bulk inserts that the database's unique
constraints make safe to run twice or from several workers at once.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Exists, Min, OuterRef, TextField
from django.db.models.functions import MD5, Cast
from django.utils import timezone

from attestations.models import Attestation, Decision, Outcome
from cascades import engine
from cascades.models import Clawback, Engagement, EvaluationRun, Reward, Signal
from cascades.structures import Structure
from payouts.models import LedgerEntry
from portal.models import Partner, PartnerStatusChange

# What a run has to write is kept until the end and written in one transaction, with a
# fixed number of statements whatever the number of engagements; past this many new
# rewards (an initial evaluation of a very large program) it is written in parts.
MAX_PENDING_REWARDS = 1_000_000
PROGRESS_SECONDS = 2.0
STREAM_CHUNK = 5000


@dataclass
class EvaluationSummary:
    engagements: int = 0
    rewards_created: int = 0
    clawbacks_created: int = 0


@dataclass
class EngagementData:
    """One engagement as the evaluation sees it: its facts and the rewards it already has."""

    id: int
    partner_id: int
    currency: str
    facts: engine.EngagementFacts
    rewards: list = field(default_factory=list)  # engine.RewardFact


class _Stream:
    """A sorted stream of rows whose first column is the merge key (a customer id)."""

    def __init__(self, rows):
        self._rows = iter(rows)
        self._head = next(self._rows, None)

    def take(self, key):
        rows = []
        while self._head is not None and self._head[0] < key:
            self._head = next(self._rows, None)
        while self._head is not None and self._head[0] == key:
            rows.append(self._head)
            self._head = next(self._rows, None)
        return rows


def _terminations():
    """Partner id → the date it was terminated."""
    dates = {}
    for partner_id, changed_at in PartnerStatusChange.objects.filter(
        to_status=Partner.Status.TERMINATED
    ).values_list("partner_id", "changed_at"):
        day = timezone.localdate(changed_at)
        if partner_id not in dates or day < dates[partner_id]:
            dates[partner_id] = day
    return dates


def load_engagements(*, engagement_ids=None):
    """Yield EngagementData for the engagements (default: all) that have a snapshot."""
    everything = engagement_ids is None
    scope = Engagement.objects.filter(snapshot__isnull=False)
    if not everything:
        scope = scope.filter(id__in=engagement_ids)
    customers = scope.values("customer_id")
    engagements = scope.order_by("customer_id", "id").values_list(
        "customer_id",
        "id",
        "partner_id",
        "signed_at",
        "currency",
        "year1_acv",
        MD5(Cast("snapshot", output_field=TextField())),
        "outcome_agreement__id",
        "outcome_agreement__signed_at",
    )
    # Snapshots are copies of a handful of structures: fetch each distinct one once.
    keyed = scope.annotate(key=MD5(Cast("snapshot", output_field=TextField())))
    structures = {
        key: Structure.from_document(snapshot)
        for key, snapshot in Engagement.objects.filter(
            id__in=keyed.order_by().values("key").annotate(first=Min("id")).values("first")
        )
        .annotate(key=MD5(Cast("snapshot", output_field=TextField())))
        .values_list("key", "snapshot")
    }
    signals = Signal.objects.order_by("customer_id", "occurred_at", "signal_id")
    rewards = Reward.objects.order_by("engagement__customer_id", "engagement_id", "id")
    outcomes = Outcome.objects.order_by("agreement__engagement__customer_id")
    if not everything:
        signals = signals.filter(customer_id__in=customers)
        rewards = rewards.filter(engagement__in=scope)
        outcomes = outcomes.filter(agreement__engagement__in=scope)
    signal_rows = _Stream(
        signals.values_list(
            "customer_id", "signal_id", "type", "occurred_at", "value", "amount", "contract_year"
        ).iterator(chunk_size=STREAM_CHUNK)
    )
    reward_rows = _Stream(_reward_rows(rewards).iterator(chunk_size=STREAM_CHUNK))
    taken_back = _taken_back(
        Clawback.objects.all()
        if everything
        else Clawback.objects.filter(reward__engagement__in=scope)
    )
    outcome_rows = _Stream(
        outcomes.annotate(
            attested=Exists(Attestation.objects.filter(outcome=OuterRef("pk"))),
            rejected=Exists(
                Decision.objects.filter(
                    attestation__outcome=OuterRef("pk"), verdict=Decision.Verdict.REJECTED
                )
            ),
        )
        .values_list(
            "agreement__engagement__customer_id",
            "agreement__engagement_id",
            "key",
            "due_months",
            "accepted_on",
            "attested",
            "rejected",
        )
        .iterator(chunk_size=STREAM_CHUNK)
    )
    terminated = _terminations()

    for customer_id, rows in _group(engagements.iterator(chunk_size=STREAM_CHUNK)):
        signal_facts = tuple(
            engine.SignalFact(
                id=signal_id,
                type=kind,
                occurred_at=occurred_at,
                value=value,
                amount=amount,
                contract_year=contract_year,
            )
            for _, signal_id, kind, occurred_at, value, amount, contract_year in signal_rows.take(
                customer_id
            )
        )
        rewards_by_engagement = _reward_facts(reward_rows.take(customer_id), taken_back)
        outcomes_by_engagement = _outcome_facts(outcome_rows.take(customer_id))
        for (
            _, engagement_id, partner_id, signed_at, currency, year1_acv, snapshot,
            agreement_id, agreement_signed_at,
        ) in rows:  # fmt: skip
            structure = structures[snapshot]
            facts = engine.EngagementFacts(
                signed_at=signed_at,
                currency=currency,
                year1_acv=year1_acv,
                structure=structure,
                signals=signal_facts,
                outcomes=tuple(outcomes_by_engagement.get(engagement_id, ())),
                partner_terminated_on=terminated.get(partner_id),
                agreement=(
                    engine.NO_AGREEMENT
                    if agreement_id is None
                    else engine.AGREEMENT_SIGNED
                    if agreement_signed_at
                    else engine.AGREEMENT_UNSIGNED
                ),
            )
            yield EngagementData(
                id=engagement_id,
                partner_id=partner_id,
                currency=currency,
                facts=facts,
                rewards=rewards_by_engagement.get(engagement_id, []),
            )


def _reward_rows(rewards):
    """Rewards as rows for `_reward_facts`."""
    return rewards.values_list(
        "engagement__customer_id",
        "engagement_id",
        "id",
        "step_key",
        "event_key",
        "trigger_date",
        "amount",
    )


def _taken_back(clawbacks):
    """Reward id → (amount taken back so far, the kinds of clawback it had)."""
    taken = {}
    for reward_id, kind, amount in clawbacks.values_list("reward_id", "kind", "amount").iterator(
        chunk_size=STREAM_CHUNK
    ):
        total, kinds = taken.get(reward_id, (Decimal(0), frozenset()))
        taken[reward_id] = (total + amount, kinds | {kind})
    return taken


def _reward_facts(rows, taken_back):
    by_engagement = {}
    nothing = (Decimal(0), frozenset())
    for _, engagement_id, reward_id, step_key, event_key, trigger, amount in rows:
        clawed_back, kinds = taken_back.get(reward_id, nothing)
        by_engagement.setdefault(engagement_id, []).append(
            engine.RewardFact(
                id=reward_id,
                step_key=step_key,
                event_key=event_key,
                trigger_date=trigger,
                amount=amount,
                clawed_back=clawed_back,
                clawback_kinds=kinds,
            )
        )
    return by_engagement


def _outcome_facts(rows):
    by_engagement = {}
    for _, engagement_id, key, due_months, accepted_on, attested, rejected in rows:
        by_engagement.setdefault(engagement_id, []).append(
            engine.OutcomeFact(
                key=key,
                due_months=due_months,
                accepted_on=accepted_on,
                attested=attested,
                rejected=rejected,
            )
        )
    return by_engagement


def _group(rows):
    """Group rows sorted by their first column."""
    current, bucket = None, []
    for row in rows:
        if row[0] != current and bucket:
            yield current, bucket
            bucket = []
        current = row[0]
        bucket.append(row)
    if bucket:
        yield current, bucket


@dataclass
class _Batch:
    """What one write transaction will insert."""

    partners: dict = field(default_factory=dict)  # engagement id → partner id
    rewards: list = field(default_factory=list)
    clawback_candidates: list = field(default_factory=list)  # EngagementData


def _plan(data: EngagementData, as_of, batch: _Batch):
    """Add to `batch` the rewards and clawbacks `data` is due."""
    have = {(r.step_key, r.event_key) for r in data.rewards}
    new = [
        (data.id, s.key, s.kind, s.event_key, s.trigger_date, s.amount, data.currency)
        for s in engine.evaluate(data.facts, as_of, detail=False)
        if s.status == engine.EARNED and (s.key, s.event_key) not in have
    ]
    if new:
        batch.partners[data.id] = data.partner_id
        batch.rewards.extend(new)
    if _may_claw_back(data, new, as_of):
        batch.clawback_candidates.append(data)


def _may_claw_back(data, new_rewards, as_of):
    facts = data.facts
    if not (data.rewards or new_rewards):
        return False
    stops = any(s.type in ("churn", "chargeback") and s.occurred_at <= as_of for s in facts.signals)
    if not stops and not (facts.partner_terminated_on and facts.partner_terminated_on <= as_of):
        return False
    if new_rewards:
        return True
    return bool(engine.clawbacks_due(facts, data.rewards, as_of))


def _flush(batch: _Batch, as_of, summary: EvaluationSummary):
    if batch.rewards or batch.clawback_candidates:
        with transaction.atomic():
            _write(batch, as_of, summary)
    batch.partners.clear()
    batch.rewards.clear()
    batch.clawback_candidates.clear()


def _write(batch: _Batch, as_of, summary: EvaluationSummary):
    if batch.rewards:
        # Sorted inserts: concurrent evaluators take row locks in one order, never deadlock.
        batch.rewards.sort(key=lambda r: (r[0], r[1], r[3]))
        if connection.vendor == "postgresql":
            summary.rewards_created += _insert_rewards_postgresql(batch.rewards)
        else:
            summary.rewards_created += _insert_rewards(batch)
    if batch.clawback_candidates:
        summary.clawbacks_created += _write_clawbacks(batch, as_of)


REWARD_COLUMNS = ("engagement_id", "step_key", "step_kind", "event_key", "trigger_date",
                  "amount", "currency")  # fmt: skip


def _insert_rewards(batch: _Batch):
    """Any database: insert what no other evaluator has, then post what has no entry."""
    Reward.objects.bulk_create(
        [Reward(**dict(zip(REWARD_COLUMNS, row, strict=True))) for row in batch.rewards],
        ignore_conflicts=True,
    )
    unposted = list(
        Reward.objects.filter(engagement_id__in={row[0] for row in batch.rewards})
        .filter(~Exists(LedgerEntry.objects.filter(reward=OuterRef("pk"), kind="cascade_reward")))
        .order_by("id")
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                partner_id=batch.partners[reward.engagement_id],
                engagement_id=reward.engagement_id,
                reward_id=reward.id,
                kind=LedgerEntry.Kind.CASCADE_REWARD,
                amount=reward.amount,
                currency=reward.currency,
                effective_date=reward.trigger_date,
            )
            for reward in unposted
        ],
        ignore_conflicts=True,
    )
    return len(unposted)


def _insert_rewards_postgresql(rows):
    """PostgreSQL: one statement inserts the rewards no other evaluator has and posts each
    to the ledger; a reward another evaluator holds is skipped (ON CONFLICT DO NOTHING)."""
    reward, entry = Reward._meta.db_table, LedgerEntry._meta.db_table
    engagement = Engagement._meta.db_table
    columns = list(zip(*rows, strict=True))
    sql = f"""
        WITH new AS (
            INSERT INTO {reward} ({", ".join(REWARD_COLUMNS)}, created_at)
            SELECT *, now() FROM unnest(
                %s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], %s::date[],
                %s::numeric[], %s::varchar[])
            ON CONFLICT (engagement_id, step_key, event_key) DO NOTHING
            RETURNING id, engagement_id, trigger_date, amount, currency
        )
        INSERT INTO {entry} (partner_id, engagement_id, reward_id, kind, amount, currency,
                             effective_date, reason, created_at)
        SELECT e.partner_id, new.engagement_id, new.id, %s, new.amount, new.currency,
               new.trigger_date, '', now()
        FROM new JOIN {engagement} e ON e.id = new.engagement_id
    """  # nosec B608: the names are the models' tables and columns; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [list(column) for column in columns] + [LedgerEntry.Kind.CASCADE_REWARD]
        )
        return cursor.rowcount


def _write_clawbacks(batch: _Batch, as_of):
    candidates = {data.id: data for data in batch.clawback_candidates}
    # What was taken back is read under a lock on the rewards (in id order: no deadlock),
    # so a clawback and a reversal of one reward written by two evaluators at once are
    # written one after the other; the second sees the first (SPEC §5).
    list(
        Reward.objects.filter(engagement_id__in=candidates)
        .order_by("id")
        .select_for_update(no_key=True)
        .values_list("id", flat=True)
    )
    rewards = _reward_facts(
        _reward_rows(Reward.objects.filter(engagement_id__in=candidates).order_by("id")),
        _taken_back(Clawback.objects.filter(reward__engagement_id__in=candidates)),
    )
    new = [
        Clawback(
            reward_id=due.reward_id,
            kind=due.kind,
            cause_id=due.cause_id,
            cause_date=due.cause_date,
            percent=due.percent,
            window_days=due.window_days,
            amount=due.amount,
        )
        for engagement_id, data in candidates.items()
        for due in engine.clawbacks_due(data.facts, rewards.get(engagement_id, ()), as_of)
    ]
    if not new:
        return 0
    new.sort(key=lambda c: (c.reward_id, c.kind))
    Clawback.objects.bulk_create(new, ignore_conflicts=True)
    unposted = list(
        Clawback.objects.filter(reward__engagement_id__in=candidates, ledger_entry__isnull=True)
        .select_related("reward")
        .order_by("id")
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                partner_id=candidates[c.reward.engagement_id].partner_id,
                engagement_id=c.reward.engagement_id,
                reward_id=c.reward_id,
                clawback_id=c.id,
                kind=LedgerEntry.Kind.CLAWBACK,
                amount=-c.amount,
                currency=c.reward.currency,
                # A reversal cancels the reward in its own period; a clawback lands on the churn.
                effective_date=(
                    c.reward.trigger_date if c.kind == Clawback.Kind.REVERSAL else c.cause_date
                ),
                reason=_clawback_reason(c),
            )
            for c in unposted
        ],
        ignore_conflicts=True,
    )
    return len(unposted)


def _clawback_reason(clawback):
    if clawback.kind == Clawback.Kind.REVERSAL:
        return f"Reversal of {clawback.reward.step_key}: churn dated {clawback.cause_date:%Y-%m-%d}"
    return (
        f"Clawback of {clawback.reward.step_key} ({clawback.percent.normalize():f} %): "
        f"churn or chargeback on {clawback.cause_date:%Y-%m-%d}"
    )


def engagements_evaluate(
    *,
    as_of: datetime.date,
    engagement_ids=None,
    run: EvaluationRun | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationSummary:
    """Evaluate the engagements (default: all) as of `as_of`, and persist what fired."""
    summary = EvaluationSummary()
    total = 0
    if run is not None or progress is not None:
        scope = Engagement.objects.filter(snapshot__isnull=False)
        if engagement_ids is not None:
            scope = scope.filter(id__in=engagement_ids)
        total = scope.count()
    if run is not None:
        EvaluationRun.objects.filter(pk=run.pk).update(
            status=EvaluationRun.Status.RUNNING, started_at=timezone.now(), engagements_total=total
        )
    batch = _Batch()
    last_report = time.monotonic()
    for data in load_engagements(engagement_ids=engagement_ids):
        _plan(data, as_of, batch)
        summary.engagements += 1
        if len(batch.rewards) >= MAX_PENDING_REWARDS:
            _flush(batch, as_of, summary)
        if time.monotonic() - last_report >= PROGRESS_SECONDS:
            last_report = time.monotonic()
            if progress:
                progress(summary.engagements, total)
            if run is not None:
                EvaluationRun.objects.filter(pk=run.pk).update(engagements_done=summary.engagements)
    _flush(batch, as_of, summary)
    if progress:
        progress(summary.engagements, total)
    return summary


# PostgreSQL advisory locks (the first key) held by the session of the worker running an
# evaluation (the second key, the run's id): a run marked running whose lock nobody holds
# lost its worker, whichever host it ran on.
RUN_LOCK_SPACE = 0x43415343  # "CASC"


def _run_lock(run_id, *, take: bool) -> bool:
    """Take (or release) the run's advisory lock for this session; True if taken. Without
    PostgreSQL (the SQLite demo: one host) there is nothing to take."""
    if connection.vendor != "postgresql":
        return True
    sql = "SELECT pg_try_advisory_lock(%s, %s)" if take else "SELECT pg_advisory_unlock(%s, %s)"
    with connection.cursor() as cursor:
        cursor.execute(sql, [RUN_LOCK_SPACE, run_id])
        return cursor.fetchone()[0]


def evaluation_runs_sweep() -> int:
    """Mark failed every run marked running whose worker no longer holds its lock (killed,
    timed out, its host gone); returns how many."""
    if connection.vendor != "postgresql":
        return 0
    stale = 0
    for run_id in EvaluationRun.objects.filter(status=EvaluationRun.Status.RUNNING).values_list(
        "pk", flat=True
    ):
        if not _run_lock(run_id, take=True):
            continue  # its worker is at work
        try:
            stale += EvaluationRun.objects.filter(
                pk=run_id, status=EvaluationRun.Status.RUNNING
            ).update(
                status=EvaluationRun.Status.FAILED,
                error="Its worker stopped before the run finished (killed or timed out); "
                "nothing it wrote is lost: the next evaluation goes on from there.",
                finished_at=timezone.now(),
            )
        finally:
            _run_lock(run_id, take=False)
    return stale


def evaluation_run_perform(run: EvaluationRun, *, engagement_ids=None, progress=None):
    """Carry out `run`, recording progress, the outcome or the error on it. While it runs,
    its worker's database session holds the run's lock; a run another worker holds is
    left to it (a task delivered twice)."""
    if not _run_lock(run.pk, take=True):
        return None
    try:
        summary = engagements_evaluate(
            as_of=run.as_of, engagement_ids=engagement_ids, run=run, progress=progress
        )
    except Exception as error:
        EvaluationRun.objects.filter(pk=run.pk).update(
            status=EvaluationRun.Status.FAILED, error=repr(error), finished_at=timezone.now()
        )
        raise
    finally:
        _run_lock(run.pk, take=False)
    EvaluationRun.objects.filter(pk=run.pk).update(
        status=EvaluationRun.Status.DONE,
        engagements_done=summary.engagements,
        engagements_total=summary.engagements,
        rewards_created=summary.rewards_created,
        clawbacks_created=summary.clawbacks_created,
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return summary
