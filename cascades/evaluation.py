"""Evaluation as a service: load engagements in sets, run the pure engine, write what fired
and the state of every step.

The reads are a handful of streamed queries merged by customer, whatever the
number of engagements; the writes are bulk inserts that the database's unique
constraints make safe to run twice or from several workers at once.

Evaluation is in proportion to change: by default only the engagements whose inputs
changed since their last evaluation (Engagement.inputs_version, see cascades.dirty) or
whose state may change by the as-of date without new data (Engagement.next_change_on,
from the engine) are evaluated; `full=True` evaluates every one. Each evaluated
engagement's step rows (CascadeStep) are rewritten only where they changed, and never by
an evaluation as of an earlier date than the one that wrote them.
"""

from __future__ import annotations

import datetime
import itertools
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Exists, F, Min, OuterRef, Q, TextField
from django.db.models.functions import MD5, Cast
from django.utils import timezone

from cascades import engine
from cascades.models import CascadeStep, Clawback, Engagement, EvaluationRun, Reward, Signal
from cascades.step_events import step_events_record
from cascades.steps import StepRow, cascade_steps, digest
from cascades.structures import Structure
from payouts.ledger import Posting, ledger_post_many
from payouts.models import LedgerEntry
from portal.bulk import insert_rows, temporary_table
from portal.models import Partner, PartnerStatusChange

# What a run has to write is kept until the end and written in one transaction, with a
# fixed number of statements whatever the number of engagements; past this many new
# rewards (an initial evaluation of a very large program) it is written in parts.
MAX_PENDING_REWARDS = 1_000_000
# Engagements whose step rows changed, kept for one write (about ten rows each).
MAX_PENDING_STEPS = 50_000
PROGRESS_SECONDS = 2.0
STREAM_CHUNK = 5000


@dataclass
class EvaluationSummary:
    engagements: int = 0
    rewards_created: int = 0
    clawbacks_created: int = 0
    steps_written: int = 0
    steps_deleted: int = 0
    events_written: int = 0


@dataclass
class EngagementData:
    """One engagement as the evaluation sees it: its facts and the rewards it already has,
    and what its last evaluation recorded."""

    id: int
    partner_id: int
    currency: str
    facts: engine.EngagementFacts
    rewards: list = field(default_factory=list)  # engine.RewardFact
    inputs_version: int = 0
    evaluated_as_of: datetime.date | None = None
    steps_digest: str = ""


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


def evaluation_scope(*, as_of, engagement_ids=None, full=False):
    """The engagements an evaluation as of `as_of` looks at: those named, or every one with
    `full`, or else those whose inputs changed since they were last evaluated, those never
    evaluated and those whose state may change by `as_of` without new data."""
    scope = Engagement.objects.filter(snapshot__isnull=False)
    if engagement_ids is not None:
        return scope.filter(id__in=engagement_ids)
    if full:
        return scope
    return scope.filter(
        Q(evaluated_version__isnull=True)
        | Q(inputs_version__gt=F("evaluated_version"))
        | Q(next_change_on__lte=as_of)
    )


def load_engagements(*, engagement_ids=None, scope=None):
    """Yield EngagementData for the engagements of `scope` (default: those named, else all)
    that have a snapshot."""
    everything = engagement_ids is None and scope is None
    if scope is None:
        scope = evaluation_scope(as_of=None, engagement_ids=engagement_ids, full=True)
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
        "inputs_version",
        "evaluated_as_of",
        "steps_digest",
    )
    # The engagements (and the version of their inputs) are read before their inputs: an
    # input committed in between is then seen with an old version, and evaluated again.
    engagement_rows = _primed(engagements.iterator(chunk_size=STREAM_CHUNK))
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
    if not everything:
        signals = signals.filter(customer_id__in=customers)
        rewards = rewards.filter(engagement__in=scope)
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
    outcome_rows = _Stream(_outcome_source(None if everything else scope))
    terminated = _terminations()

    for customer_id, rows in _group(engagement_rows):
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
        causes = _causes(signal_facts)
        rewards_by_engagement = _reward_facts(reward_rows.take(customer_id), taken_back, causes)
        outcomes_by_engagement = _outcome_facts(outcome_rows.take(customer_id))
        for (
            _, engagement_id, partner_id, signed_at, currency, year1_acv, snapshot,
            agreement_id, agreement_signed_at, inputs_version, evaluated_as_of, steps_digest,
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
                inputs_version=inputs_version,
                evaluated_as_of=evaluated_as_of,
                steps_digest=steps_digest,
            )


def _no_outcomes(scope):
    return iter(())


# The agreed outcomes come from the attestations app, a layer above this one: it registers
# how to read them once it is ready (attestations.changes). Without it, none are agreed.
_outcome_source = _no_outcomes


def outcome_source_register(source):
    """`source(scope)`: an iterator over (customer id, engagement id, key, due months,
    accepted on, attested, rejected) of each agreed outcome of the engagements of `scope`
    (a queryset; None for all), in customer id order."""
    global _outcome_source
    _outcome_source = source


def _primed(rows):
    """`rows`, its first row fetched now: the query has run when this returns."""
    rows = iter(rows)
    first = next(rows, None)
    return itertools.chain([] if first is None else [first], rows)


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
    """Reward id → (amount taken back so far, the kinds of clawback it had, the one that
    says why: (kind, percent, amount, cause id, cause date), a reversal over a clawback)."""
    taken = {}
    rows = clawbacks.values_list("reward_id", "kind", "percent", "amount", "cause_id", "cause_date")
    for reward_id, kind, percent, amount, cause_id, cause_date in rows.iterator(
        chunk_size=STREAM_CHUNK
    ):
        total, kinds, why = taken.get(reward_id, (Decimal(0), frozenset(), None))
        if why is None or kind == Clawback.Kind.REVERSAL:
            why = (kind, percent, amount, cause_id, cause_date)
        taken[reward_id] = (total + amount, kinds | {kind}, why)
    return taken


def _taken_back_reason(trigger_date, why, causes):
    kind, percent, amount, cause_id, cause_date = why
    return engine.taken_back_reason(
        kind=kind,
        fired_on=trigger_date,
        percent=percent,
        amount=amount,
        cause_type=causes.get(cause_id) if cause_id else None,
        cause_date=cause_date,
    )


def _reward_facts(rows, taken_back, causes):
    """Engagement id → its rewards (engine.RewardFact); `causes`: signal id → type of the
    churns and chargebacks that may have caused a clawback."""
    by_engagement = {}
    nothing = (Decimal(0), frozenset(), None)
    for _, engagement_id, reward_id, step_key, event_key, trigger, amount in rows:
        clawed_back, kinds, why = taken_back.get(reward_id, nothing)
        by_engagement.setdefault(engagement_id, []).append(
            engine.RewardFact(
                id=reward_id,
                step_key=step_key,
                event_key=event_key,
                trigger_date=trigger,
                amount=amount,
                clawed_back=clawed_back,
                clawback_kinds=kinds,
                taken_back=None if why is None else _taken_back_reason(trigger, why, causes),
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
class _Evaluated:
    """What an evaluation found for one engagement, to record on it and its step rows."""

    id: int
    partner_id: int
    inputs_version: int
    next_change_on: datetime.date | None
    steps_digest: str
    acv: dict  # contract year → ACV as known on the as-of date
    rows: list | None  # the step rows, when they differ from those last recorded


@dataclass
class _Batch:
    """What one write transaction will insert."""

    partners: dict = field(default_factory=dict)  # engagement id → partner id
    rewards: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)  # (engagement, step, event key) → Reason
    clawback_candidates: list = field(default_factory=list)  # EngagementData
    evaluated: list = field(default_factory=list)  # _Evaluated
    changed: int = 0  # how many of `evaluated` have rows to write


@dataclass(frozen=True)
class Projection:
    """What an evaluation as of a date finds for one engagement: the engine's evaluation,
    the steps that fired and have no reward yet, what is due to be taken back, and the step
    rows as they will be once those are written."""

    found: engine.Evaluation
    fired: list  # engine.StepState
    due: list  # engine.ClawbackDue
    rows: list  # cascades.steps.StepRow


def project(data: EngagementData, as_of) -> Projection:
    """The evaluation of `data` as of `as_of`, written nowhere: what `engagements_evaluate`
    records, and what the ops API shows for a date the rows were not evaluated for."""
    facts = data.facts
    found = engine.evaluate_engagement(facts, as_of)
    have = {(r.step_key, r.event_key) for r in data.rewards}
    fired = [
        s for s in found.states if s.status == engine.EARNED and (s.key, s.event_key) not in have
    ]
    # The rewards as they will be once written: the new ones (ids to come) and what will be
    # taken back.
    rewards = list(data.rewards) + [
        engine.RewardFact(id=-n, step_key=s.key, event_key=s.event_key,
                          trigger_date=s.trigger_date, amount=s.amount)
        for n, s in enumerate(fired, start=1)
    ]  # fmt: skip
    due = _clawbacks_due(facts, rewards, as_of)
    if due:
        rewards = _taken_back_by(rewards, due, facts)
    rows = cascade_steps(facts, rewards, found.states)
    return Projection(found=found, fired=fired, due=due, rows=rows)


def _plan(data: EngagementData, as_of, batch: _Batch):
    """Add to `batch` the rewards and clawbacks `data` is due, and its step rows."""
    projection = project(data, as_of)
    if projection.fired:
        batch.partners[data.id] = data.partner_id
        batch.rewards.extend(
            (data.id, s.key, s.kind, s.event_key, s.trigger_date, s.amount, data.currency)
            for s in projection.fired
        )
        batch.reasons.update(((data.id, s.key, s.event_key), s.reason) for s in projection.fired)
    if projection.due:
        batch.clawback_candidates.append(data)
    if data.evaluated_as_of is not None and data.evaluated_as_of > as_of:
        return  # its rows are of a later date: an earlier one does not overwrite them
    steps_digest = digest(projection.rows)
    changed = steps_digest != data.steps_digest
    batch.changed += changed
    batch.evaluated.append(
        _Evaluated(
            id=data.id,
            partner_id=data.partner_id,
            inputs_version=data.inputs_version,
            next_change_on=projection.found.next_change_on,
            steps_digest=steps_digest,
            acv=projection.found.acv,
            rows=projection.rows if changed else None,
        )
    )


def _clawbacks_due(facts, rewards, as_of):
    """What `rewards` are due to have taken back (none without a churn, a chargeback or the
    partner's termination as of `as_of`)."""
    if not rewards:
        return []
    stops = any(s.type in ("churn", "chargeback") and s.occurred_at <= as_of for s in facts.signals)
    if not stops and not (facts.partner_terminated_on and facts.partner_terminated_on <= as_of):
        return []
    return engine.clawbacks_due(facts, rewards, as_of)


def _causes(signals):
    """Signal id → type of the churns and chargebacks among `signals`: what a clawback's
    cause may be."""
    return {s.id: s.type for s in signals if s.type in ("churn", "chargeback")}


def _taken_back_by(rewards, due, facts):
    """`rewards` once the clawbacks `due` are taken back from them."""
    causes = _causes(facts.signals)
    by_id = {reward.id: reward for reward in rewards}
    for d in due:
        reward = by_id[d.reward_id]
        reason = reward.taken_back
        if reason is None or d.kind == Clawback.Kind.REVERSAL:
            why = (d.kind, d.percent, d.amount, d.cause_id, d.cause_date)
            reason = _taken_back_reason(reward.trigger_date, why, causes)
        by_id[d.reward_id] = reward._replace(
            clawed_back=reward.clawed_back + d.amount,
            clawback_kinds=reward.clawback_kinds | {d.kind},
            taken_back=reason,
        )
    return list(by_id.values())


def _flush(batch: _Batch, as_of, summary: EvaluationSummary):
    if batch.rewards or batch.clawback_candidates or batch.evaluated:
        with transaction.atomic():
            _write(batch, as_of, summary)
    batch.partners.clear()
    batch.rewards.clear()
    batch.reasons.clear()
    batch.clawback_candidates.clear()
    batch.evaluated.clear()
    batch.changed = 0


def _write(batch: _Batch, as_of, summary: EvaluationSummary):
    if batch.rewards:
        # Sorted inserts: concurrent evaluators take row locks in one order, never deadlock.
        batch.rewards.sort(key=lambda r: (r[0], r[1], r[3]))
        if connection.vendor == "postgresql":
            summary.rewards_created += _insert_rewards_postgresql(batch)
        else:
            summary.rewards_created += _insert_rewards(batch)
    if batch.clawback_candidates:
        summary.clawbacks_created += _write_clawbacks(batch, as_of)
    if batch.evaluated:
        _write_steps(batch, as_of, summary)


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
    return ledger_post_many(
        _reward_postings(batch, [(r.id, r.engagement_id, r.step_key, r.event_key,
                                  r.trigger_date, r.amount, r.currency) for r in unposted])
    )  # fmt: skip


def _reward_postings(batch: _Batch, rewards):
    """The ledger entries of new `rewards`: (id, engagement id, step key, event key, trigger
    date, amount, currency), each with why it fired."""
    for reward_id, engagement_id, step_key, event_key, trigger_date, amount, currency in rewards:
        reason = batch.reasons.get((engagement_id, step_key, event_key))
        yield Posting(
            partner_id=batch.partners[engagement_id],
            engagement_id=engagement_id,
            reward_id=reward_id,
            clawback_id=None,
            kind=LedgerEntry.Kind.CASCADE_REWARD,
            amount=amount,
            currency=currency,
            effective_date=trigger_date,
            reason_code=reason.code if reason else "",
            facts=reason.facts if reason else {},
        )


def _insert_rewards_postgresql(batch: _Batch):
    """PostgreSQL: one statement inserts the rewards no other evaluator has (a reward another
    evaluator holds is skipped: ON CONFLICT DO NOTHING), and the ledger posts those."""
    new_rewards = temporary_table(
        "evaluation_new_reward",
        "engagement_id bigint, step_key varchar, step_kind varchar, event_key varchar, "
        "trigger_date date, amount numeric, currency varchar",
        batch.rewards,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Reward._meta.db_table} ({", ".join(REWARD_COLUMNS)}, created_at)
            SELECT *, now() FROM {new_rewards} ORDER BY engagement_id, step_key, event_key
            ON CONFLICT (engagement_id, step_key, event_key) DO NOTHING
            RETURNING id, engagement_id, step_key, event_key, trigger_date, amount, currency
            """  # nosec B608: the names are the model's table and columns and ours
        )
        return ledger_post_many(_reward_postings(batch, cursor.fetchall()))


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
        causes={},  # only the amounts matter here
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
        .select_related("reward", "cause")
        .order_by("id")
    )
    ledger_post_many(
        Posting(
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
            **_why_taken_back(c),
        )
        for c in unposted
    )
    return len(unposted)


STEP_COLUMNS = ("engagement_id", "partner_id", "position", "step_key", "event_key", "kind",
                "status", "as_of", "opens", "closes", "trigger_date", "amount",
                "expected_amount", "clawed_back_amount", "currency", "reason", "facts",
                "at_risk")  # fmt: skip


def _write_steps(batch: _Batch, as_of, summary: EvaluationSummary):
    """Record on each evaluated engagement what this evaluation found, unless an evaluation
    as of a later date already did (its rows stay), and rewrite the step rows that changed,
    with an event for each change of state (cascades.step_events)."""
    recorded_digests = _record_evaluated(batch.evaluated, as_of)
    # Rows to write: where they differ from what is recorded now (another evaluator may
    # have written the same since this one read them).
    changed = [
        e for e in batch.evaluated
        if e.rows is not None and recorded_digests.get(e.id, e.steps_digest) != e.steps_digest
    ]  # fmt: skip
    if not changed:
        return
    before = _recorded_steps([e.id for e in changed if recorded_digests[e.id]])
    delete, insert, transitions = [], [], []
    for evaluated in changed:
        recorded = before.get(evaluated.id, {})
        for row in evaluated.rows:
            prior = recorded.pop(row.slot, None)
            if prior is not None and prior[1].content() == row.content():
                continue
            if prior is not None:
                delete.append(prior[0])
            insert.append((evaluated, row))
            transitions.append((evaluated, prior[1] if prior else None, row))
        delete.extend(pk for pk, _ in recorded.values())
    if delete:
        summary.steps_deleted += CascadeStep.objects.filter(pk__in=delete).delete()[0]
    summary.steps_written += _insert_steps(insert, as_of)
    summary.events_written += step_events_record(transitions, as_of)


def _record_evaluated(evaluated, as_of):
    """Write the version, as-of date, next change date, digest and ACVs each engagement was
    evaluated with, where no evaluation as of a later date did. Returns, for those written
    (locked until the transaction ends), the digest of the step rows recorded before.

    An engagement whose rows this evaluation found unchanged but that another evaluator
    rewrote meanwhile keeps that evaluator's digest and is left to be evaluated again."""
    evaluated = sorted(evaluated, key=lambda e: e.id)  # row locks in one order: no deadlock
    ids = [e.id for e in evaluated]
    if connection.vendor == "postgresql":
        table = Engagement._meta.db_table
        evaluated_ids = temporary_table("evaluation_engagement", "id bigint", ((i,) for i in ids))
        with connection.cursor() as cursor:
            # Once locked, each row as the last evaluator to write it left it.
            cursor.execute(
                f"SELECT id, steps_digest FROM {table} WHERE id IN "
                f"(SELECT id FROM {evaluated_ids}) ORDER BY id FOR NO KEY UPDATE"  # nosec B608: ours
            )
            recorded = dict(cursor.fetchall())
            found = temporary_table(
                "evaluation_found",
                "id bigint, version bigint, next date, digest varchar, acv2 numeric, acv3 numeric",
                (
                    (e.id, version, e.next_change_on, digest_, e.acv[2], e.acv[3])
                    for e in evaluated
                    for version, digest_ in [_kept(e, recorded[e.id])]
                ),
            )
            cursor.execute(
                f"""
                UPDATE {table} e
                SET evaluated_version = v.version, evaluated_as_of = %s,
                    next_change_on = v.next, steps_digest = v.digest, year2_acv = v.acv2,
                    year3_acv = v.acv3
                FROM {found} v
                WHERE e.id = v.id AND (e.evaluated_as_of IS NULL OR e.evaluated_as_of <= %s)
                RETURNING e.id
                """,  # nosec B608: the tables are the model's and ours; values are parameters
                [as_of, as_of],
            )
            return {row[0]: recorded[row[0]] for row in cursor.fetchall()}
    owned = dict(
        Engagement.objects.filter(id__in=ids)
        .filter(Q(evaluated_as_of__isnull=True) | Q(evaluated_as_of__lte=as_of))
        .values_list("id", "steps_digest")
    )
    updates = []
    for e in evaluated:
        if e.id in owned:
            version, digest_ = _kept(e, owned[e.id])
            updates.append(
                Engagement(id=e.id, evaluated_version=version, evaluated_as_of=as_of,
                           next_change_on=e.next_change_on, steps_digest=digest_,
                           year2_acv=e.acv[2], year3_acv=e.acv[3])
            )  # fmt: skip
    Engagement.objects.bulk_update(
        updates,
        [
            "evaluated_version",
            "evaluated_as_of",
            "next_change_on",
            "steps_digest",
            "year2_acv",
            "year3_acv",
        ],  # fmt: skip
        batch_size=500,
    )
    return owned


def _kept(evaluated, recorded_digest):
    """(the version, the digest) to record for an engagement whose recorded digest is
    `recorded_digest` now."""
    if evaluated.rows is None and recorded_digest != evaluated.steps_digest:
        return -1, recorded_digest  # its rows changed under this evaluation: again next time
    return evaluated.inputs_version, evaluated.steps_digest


def _recorded_steps(engagement_ids):
    """Engagement id → {(step key, event key): (row id, StepRow)} of the rows recorded."""
    recorded = {}
    if not engagement_ids:
        return recorded
    fields = [f for f in STEP_COLUMNS if f not in ("engagement_id", "partner_id", "as_of")]
    rows = CascadeStep.objects.filter(engagement_id__in=engagement_ids).values_list(
        "engagement_id", "id", *fields
    )
    for engagement_id, pk, *values in rows.iterator(chunk_size=STREAM_CHUNK):
        row = StepRow(**dict(zip(fields, values, strict=True)))
        recorded.setdefault(engagement_id, {})[row.slot] = (pk, row)
    return recorded


def _insert_steps(insert, as_of):
    if not insert:
        return 0
    values = [
        (e.id, e.partner_id, row.position, row.step_key, row.event_key, row.kind, row.status,
         as_of, row.opens, row.closes, row.trigger_date, row.amount, row.expected_amount,
         row.clawed_back_amount, row.currency, row.reason, row.facts, row.at_risk)
        for e, row in insert
    ]  # fmt: skip
    return insert_rows(CascadeStep, STEP_COLUMNS, values)


def _why_taken_back(clawback):
    """The reason code and facts of a clawback's or reversal's entry (cascades.reasons)."""
    why = (clawback.kind, clawback.percent, clawback.amount, clawback.cause_id,
           clawback.cause_date)  # fmt: skip
    causes = {clawback.cause_id: clawback.cause.type} if clawback.cause_id else {}
    code, facts = _taken_back_reason(clawback.reward.trigger_date, why, causes)
    return {"reason_code": code, "facts": facts}


def engagements_evaluate(
    *,
    as_of: datetime.date,
    engagement_ids=None,
    full: bool = False,
    run: EvaluationRun | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationSummary:
    """Evaluate as of `as_of` the engagements named, or every one (`full`), or else those
    that may have changed (`evaluation_scope`), and persist what fired and their steps."""
    summary = EvaluationSummary()
    scope = evaluation_scope(as_of=as_of, engagement_ids=engagement_ids, full=full)
    if not full and engagement_ids is None:
        # Which ones, once (by the indexes on what changed and on next_change_on): the
        # queries that load them then look up ids.
        engagement_ids = list(scope.values_list("id", flat=True))
        scope = evaluation_scope(as_of=as_of, engagement_ids=engagement_ids)
    total = 0
    if run is not None or progress is not None:
        total = scope.count()
    if run is not None:
        EvaluationRun.objects.filter(pk=run.pk).update(
            status=EvaluationRun.Status.RUNNING, started_at=timezone.now(), engagements_total=total
        )
    batch = _Batch()
    last_report = time.monotonic()
    everything = full and engagement_ids is None
    for data in load_engagements(scope=None if everything else scope):
        _plan(data, as_of, batch)
        summary.engagements += 1
        if len(batch.rewards) >= MAX_PENDING_REWARDS or batch.changed >= MAX_PENDING_STEPS:
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


# PostgreSQL advisory locks held by the session of the worker running an evaluation, keyed
# by the database (advisory locks are shared by every database of a server) and the run's
# id: a run marked running whose lock nobody holds lost its worker, whichever host it ran on.
RUN_LOCK_SPACE = 0x43415343  # "CASC"


def run_lock_space() -> int:
    """The first key of this database's run locks (a signed 32-bit integer)."""
    name = str(connection.settings_dict["NAME"]).encode()
    return (zlib.crc32(name) ^ RUN_LOCK_SPACE) - (1 << 31)


def _run_lock(run_id, *, take: bool) -> bool:
    """Take (or release) the run's advisory lock for this session; True if taken. Without
    PostgreSQL (the SQLite demo: one host) there is nothing to take."""
    if connection.vendor != "postgresql":
        return True
    sql = "SELECT pg_try_advisory_lock(%s, %s)" if take else "SELECT pg_advisory_unlock(%s, %s)"
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_lock_space(), run_id])
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


def evaluation_run_perform(run: EvaluationRun, *, engagement_ids=None, full=False, progress=None):
    """Carry out `run`, recording progress, the outcome or the error on it. While it runs,
    its worker's database session holds the run's lock; a run another worker holds is
    left to it (a task delivered twice)."""
    if not _run_lock(run.pk, take=True):
        return None
    try:
        summary = engagements_evaluate(
            as_of=run.as_of, engagement_ids=engagement_ids, full=full, run=run, progress=progress
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
