"""The evaluation engine: a pure function from an engagement's data to its steps' states.

No database, no clock: given the snapshot, the ACVs, the signals, the outcome
acceptances and an as-of date, `evaluate` says for every step whether it is
pending, earned (with trigger date and amount), missed or void, exactly as SPEC
§2 defines it. Trigger dates come from the data, so evaluating late or twice
gives the same answer.

Each state says why, as a reason code and the facts behind it (SPEC §7
"Explanations"): the reading and the threshold, the renewal, the churn, the
acceptance. Facts hold JSON values only (dates as ISO strings, numbers as
decimal strings) so that they are stored and served as they are; the sentences
people read are rendered from them in `cascades.explanations`.
"""

from __future__ import annotations

import bisect
import datetime
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from dateutil.relativedelta import relativedelta

from cascades.reasons import (
    AGREEMENT_NOT_SIGNED,
    AGREEMENT_SIGNED,
    AGREEMENT_UNSIGNED,
    ATTESTATION_REJECTED,
    CHURNED,
    CLAWED_BACK,
    CSAT_BELOW,
    EXPANSION_EVENT,
    GAMING_CASE_OPEN,
    MEMBERS_FELL,
    NO_AGREEMENT,
    NO_AGREEMENT_SIGNED,
    NO_EXPANSION,
    NO_RENEWAL,
    OPENS_LATER,
    OUTCOME_ACCEPTED,
    OUTCOME_NOT_ACCEPTED,
    OUTCOME_NOT_ATTESTED,
    PARTNER_TERMINATED,
    READING_BELOW,
    READING_NOT_REACHED,
    READING_REACHED,
    RENEWED,
    REVERSED,
    SIGNED,
    TENURE_REACHED,
    WINDOW_CLOSED,
    WINDOW_OPEN,
    Reason,
    decimal_text,
    iso,
)
from cascades.structures import Step, Structure
from portal.money import round_money

PENDING, EARNED, MISSED, VOID = "pending", "earned", "missed", "void"
HUNDRED = Decimal(100)
DAY = datetime.timedelta(days=1)

# SPEC §7 "at risk" thresholds.
AT_RISK_READING_DAYS = 60
AT_RISK_RETENTION_DAYS = 60
AT_RISK_MEMBER_DROP = Decimal("0.30")
AT_RISK_MEMBER_WINDOW_DAYS = 90
AT_RISK_CSAT_BELOW = Decimal(7)
AT_RISK_OUTCOME_DAYS = 30


class SignalFact(NamedTuple):
    """One signal as the engine needs it. `value` is the reading or CSAT score;
    `amount` the renewal's ACV, the expansion's ACV delta or the chargeback."""

    id: str
    type: str
    occurred_at: datetime.date
    value: Decimal | None = None
    amount: Decimal | None = None
    contract_year: int | None = None


@dataclass(frozen=True)
class OutcomeFact:
    """An agreed outcome (SPEC §4): due `due_months` after signing, accepted on a date."""

    key: str
    due_months: int
    accepted_on: datetime.date | None = None
    attested: bool = False
    rejected: bool = False


@dataclass(frozen=True)
class EngagementFacts:
    signed_at: datetime.date
    currency: str
    year1_acv: Decimal
    structure: Structure
    signals: tuple[SignalFact, ...] = ()
    outcomes: tuple[OutcomeFact, ...] = ()
    partner_terminated_on: datetime.date | None = None
    gaming_case_open: bool = False
    agreement: str = AGREEMENT_SIGNED


class StepState(NamedTuple):
    key: str
    kind: str
    status: str
    opens: datetime.date
    closes: datetime.date
    trigger_date: datetime.date | None = None
    amount: Decimal | None = None
    event_key: str = ""
    void_on: datetime.date | None = None
    at_risk: tuple[Reason, ...] = ()
    reason: Reason | None = None


@functools.lru_cache(maxsize=65536)
def add_months(day: datetime.date, months: int) -> datetime.date:
    """Calendar months, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    return day + relativedelta(months=months)


def clawback_amount(reward_amount: Decimal, percent: Decimal, currency: str) -> Decimal:
    """The part of a reward a clawback takes back (SPEC §5), rounded half-up once."""
    return round_money(reward_amount * percent / HUNDRED, currency)


def standard_commission(structure: Structure, year1_acv: Decimal, currency: str) -> Decimal:
    return round_money(year1_acv * structure.standard_commission_percent / HUNDRED, currency)


READING_TYPES = frozenset(("active_members", "vault_size_gb", "zone_count", "csat"))
EXPANSION_TYPES = frozenset(("plan_upgrade", "org_added", "marketplace_purchase"))


class _Timeline:
    """The engagement's signals as of a date, indexed for the questions the steps ask."""

    __slots__ = ("readings", "renewals", "expansions", "churn")

    def __init__(self, signals, as_of):
        readings, renewals, expansions, churn = {}, [], [], None
        for signal in signals:
            day = signal.occurred_at
            if day > as_of:
                continue  # not yet happened as of the evaluation date
            kind = signal.type
            if kind in READING_TYPES:
                # Same-day readings: the highest counts, whatever order they arrived in.
                by_day = readings.get(kind)
                if by_day is None:
                    by_day = readings[kind] = {}
                value = signal.value
                if value is not None and (day not in by_day or value > by_day[day][0]):
                    by_day[day] = (value, signal.id)
            elif kind == "renewal":
                renewals.append(signal)
            elif kind in EXPANSION_TYPES:
                expansions.append(signal)
            elif kind == "churn" and (
                churn is None or (day, signal.id) < (churn.occurred_at, churn.id)
            ):
                churn = signal
        # Per metric, (day, value, signal id) in date order.
        self.readings = {k: sorted((d, *v) for d, v in by.items()) for k, by in readings.items()}
        renewals.sort(key=lambda s: (s.occurred_at, s.id))
        expansions.sort(key=lambda s: (s.occurred_at, s.id))
        self.renewals, self.expansions, self.churn = renewals, expansions, churn

    def latest_reading(self, kind, on_or_before):
        series = self.readings.get(kind, ())
        index = bisect.bisect_right(series, (on_or_before, Decimal("Infinity")))
        return series[index - 1] if index else None

    def first_day_at_least(self, kind, threshold, lo, hi):
        """(First d in [lo, hi] whose latest reading dated ≤ d is ≥ threshold, that reading
        as (day, value, signal id)), or None."""
        if lo > hi:
            return None
        latest = self.latest_reading(kind, lo)
        if latest is not None and latest[1] >= threshold:
            return lo, latest
        series = self.readings.get(kind, ())
        start = bisect.bisect_right(series, (lo, Decimal("Infinity")))
        for reading in series[start:]:
            if reading[0] > hi:
                break
            if reading[1] >= threshold:
                return reading[0], reading
        return None

    def renewal(self, contract_year):
        """The first renewal out of `contract_year`, or None."""
        for signal in self.renewals:
            if signal.contract_year == contract_year:
                return signal
        return None

    def acv(self, year, year1_acv, on):
        """ACV of contract year `year` as known on `on` (SPEC §2 "ACV")."""
        acv = year1_acv
        for renewed_year in range(1, year):
            carried = [
                s
                for s in self.renewals
                if s.contract_year == renewed_year and s.occurred_at <= on and s.amount is not None
            ]
            if carried:
                acv = carried[-1].amount
        return acv


def _reward(step: Step, facts: EngagementFacts, timeline: _Timeline, on, event=None):
    if step.amount is not None:
        return round_money(step.amount, facts.currency)
    if step.basis == "expansion_acv_delta":
        basis = event.amount if event is not None and event.amount is not None else Decimal(0)
    else:
        year = {"year1_acv": 1, "year2_acv": 2, "year3_acv": 3}[step.basis]
        basis = timeline.acv(year, facts.year1_acv, on)
    return round_money(basis * step.percent / HUNDRED, facts.currency)


def expected_amount(step: Step, year1_acv: Decimal, currency: str) -> Decimal | None:
    """What a step pays at signing's knowledge: later years' ACV carried from Year 1."""
    if step.amount is not None:
        return round_money(step.amount, currency)
    if step.basis == "expansion_acv_delta":
        return None
    return round_money(year1_acv * step.percent / HUNDRED, currency)


def _outcome_step_closes(step: Step, signed_at: datetime.date, due_months: int) -> datetime.date:
    """The last day an acceptance of an outcome due `due_months` after signing fires `step`:
    `closes_after_days` after the later of the step's opens date and the outcome's due date."""
    opens = add_months(signed_at, step.opens_after_months)
    due = max(opens, add_months(signed_at, due_months))
    return due + datetime.timedelta(days=step.closes_after_days)


def outcome_window_closes(
    structure: Structure, signed_at: datetime.date, outcome_key: str, due_months: int
) -> datetime.date | None:
    """The last day an acceptance of this agreed outcome fires a step of `structure`; None
    when no outcome step pays it (SPEC §4: afterwards no link is sent, nothing fires)."""
    closes = [
        _outcome_step_closes(step, signed_at, due_months)
        for step in structure.steps
        if step.kind == "outcome" and step.outcome_key in (None, outcome_key)
    ]
    return max(closes, default=None)


def _outcome_windows(step, facts):
    """Each agreed outcome the step may fire on, with the last day it may be accepted."""
    return [
        (outcome, _outcome_step_closes(step, facts.signed_at, outcome.due_months))
        for outcome in facts.outcomes
        if step.outcome_key is None or outcome.key == step.outcome_key
    ]


def _metric_and_threshold(step):
    """The reading a reading step watches and the value it needs."""
    if step.kind == "adoption":
        return "active_members", step.min_active_members
    if step.kind == "sentiment":
        return "csat", step.min_score
    return step.metric, step.threshold


def _reading_facts(metric, reading, threshold):
    return {
        "metric": metric,
        "reading": decimal_text(reading[1]) if reading else None,
        "reading_date": iso(reading[0]) if reading else None,
        "threshold": decimal_text(threshold),
    }


def _find_trigger(step, facts, timeline, opens, closes, last_day):
    """(trigger date, expansion event, why) of a non-repeating step, or (None, None, None)."""
    nothing = None, None, None
    hi = min(closes, last_day)
    if opens > hi:
        return nothing
    kind = step.kind
    if kind == "signup":
        if opens != facts.signed_at:
            return nothing
        return facts.signed_at, None, Reason(SIGNED, {"signed_at": iso(facts.signed_at)})
    if kind == "tenure":
        return opens, None, Reason(TENURE_REACHED, {"months": step.opens_after_months})
    if kind in ("adoption", "coverage", "sentiment"):
        metric, threshold = _metric_and_threshold(step)
        found = timeline.first_day_at_least(metric, threshold, opens, hi)
        if found is None:
            return nothing
        day, reading = found
        return day, None, Reason(READING_REACHED, {
            **_reading_facts(metric, reading, threshold), "signal_id": reading[2],
        })  # fmt: skip
    if kind == "retention":
        renewal = timeline.renewal(step.contract_year)
        if renewal is None:
            return nothing
        day = max(opens, renewal.occurred_at)
        if day > hi:
            return nothing
        return day, None, Reason(RENEWED, {
            "contract_year": step.contract_year, "renewed_on": iso(renewal.occurred_at),
            "signal_id": renewal.id,
        })  # fmt: skip
    if kind == "expansion":
        for event in timeline.expansions:
            if event.type in step.events and opens <= event.occurred_at <= hi:
                return event.occurred_at, event, _expansion_reason(event)
        return nothing
    if kind == "outcome":
        if facts.agreement != AGREEMENT_SIGNED:
            return nothing  # without a signed agreement no outcome step fires (SPEC §4)
        accepted = [
            (outcome.accepted_on, outcome.key)
            for outcome, outcome_closes in _outcome_windows(step, facts)
            if outcome.accepted_on is not None
            and opens <= outcome.accepted_on <= min(outcome_closes, last_day)
        ]
        if not accepted:
            return nothing
        day, key = min(accepted)
        return day, None, Reason(OUTCOME_ACCEPTED, {"outcome_key": key, "accepted_on": iso(day)})
    raise ValueError(f"unknown step kind {kind!r}")


def _fired(reason, on):
    return Reason(reason.code, {"fired_on": iso(on), **reason.facts})


def taken_back_reason(*, kind, fired_on, percent, amount, cause_type, cause_date) -> Reason:
    """Why a reward fired on `fired_on` was taken back: a clawback of `percent` after the
    churn or chargeback (`cause_type`) of `cause_date`, or a reversal in full after a churn
    (or, with no cause, the partner's termination) on or before the day it fired."""
    facts = {"fired_on": iso(fired_on), "amount": decimal_text(amount), "cause": cause_type,
             "cause_date": iso(cause_date)}  # fmt: skip
    if kind == "reversal":
        return Reason(REVERSED, facts)
    return Reason(CLAWED_BACK, {**facts, "percent": decimal_text(percent),
                                "days_after": (cause_date - fired_on).days})  # fmt: skip


def _expansion_reason(event):
    return Reason(EXPANSION_EVENT, {
        "event": event.type, "signal_id": event.id, "acv_delta": decimal_text(event.amount),
    })  # fmt: skip


def step_window(step: Step, facts: EngagementFacts):
    """(opens, closes) of `step` for this engagement (SPEC §2 "When a step fires")."""
    opens = add_months(facts.signed_at, step.opens_after_months)
    closes = opens + datetime.timedelta(days=step.closes_after_days)
    if step.kind == "outcome":
        windows = _outcome_windows(step, facts)
        if windows:
            closes = max(outcome_closes for _, outcome_closes in windows)
    return opens, closes


class _Stops(NamedTuple):
    """What ends an engagement's cascade as of the evaluation date: the first churn (the
    signal) and the partner's termination date, each None if it has not happened."""

    churn: SignalFact | None
    terminated: datetime.date | None

    @property
    def on(self):
        days = [d for d in (self.churn and self.churn.occurred_at, self.terminated) if d]
        return min(days) if days else None


def _unfired_status(closes, stop_on, as_of):
    """A step that has not fired: void if stopped in its window, else missed or pending."""
    if stop_on is not None and stop_on <= as_of and stop_on <= closes:
        return VOID
    if closes < as_of:
        return MISSED
    return PENDING


def _at_risk(step, facts, timeline, opens, as_of):
    reasons = []
    if facts.gaming_case_open:
        reasons.append(Reason(GAMING_CASE_OPEN, {}))
    if step.kind in ("adoption", "coverage") and opens <= as_of + datetime.timedelta(
        days=AT_RISK_READING_DAYS
    ):
        metric, threshold = _metric_and_threshold(step)
        latest = timeline.latest_reading(metric, as_of)
        if latest is not None and latest[1] < threshold:
            reasons.append(Reason(READING_BELOW, _reading_facts(metric, latest, threshold)))
    if step.kind == "retention" and opens <= as_of + datetime.timedelta(
        days=AT_RISK_RETENTION_DAYS
    ):
        now = timeline.latest_reading("active_members", as_of)
        before = timeline.latest_reading(
            "active_members", as_of - datetime.timedelta(days=AT_RISK_MEMBER_WINDOW_DAYS)
        )
        if (
            now
            and before
            and before[1] > 0
            and (before[1] - now[1]) / before[1] >= AT_RISK_MEMBER_DROP
        ):
            reasons.append(Reason(MEMBERS_FELL, {
                "before": decimal_text(before[1]), "now": decimal_text(now[1]),
                "days": AT_RISK_MEMBER_WINDOW_DAYS,
            }))  # fmt: skip
        csat = timeline.latest_reading("csat", as_of)
        if csat is not None and csat[1] < AT_RISK_CSAT_BELOW:
            reasons.append(Reason(CSAT_BELOW, {
                "score": decimal_text(csat[1]), "below": decimal_text(AT_RISK_CSAT_BELOW),
            }))  # fmt: skip
    if step.kind == "outcome":
        if facts.agreement == NO_AGREEMENT:
            reasons.append(Reason(NO_AGREEMENT_SIGNED, {}))
        elif facts.agreement == AGREEMENT_UNSIGNED:
            reasons.append(Reason(AGREEMENT_NOT_SIGNED, {}))
        for outcome, _ in _outcome_windows(step, facts):
            due = add_months(facts.signed_at, outcome.due_months)
            if outcome.rejected:
                reasons.append(Reason(ATTESTATION_REJECTED, {"outcome_key": outcome.key}))
            elif not outcome.attested and due <= as_of + datetime.timedelta(
                days=AT_RISK_OUTCOME_DAYS
            ):
                reasons.append(
                    Reason(OUTCOME_NOT_ATTESTED, {"outcome_key": outcome.key, "due": iso(due)})
                )
    return tuple(reasons)


def _missed_reason(step, facts, timeline, closes):
    """Why a step whose window closed without firing is missed."""
    kind = step.kind
    if kind in ("adoption", "coverage", "sentiment"):
        metric, threshold = _metric_and_threshold(step)
        latest = timeline.latest_reading(metric, closes)
        return Reason(READING_NOT_REACHED, {
            **_reading_facts(metric, latest, threshold), "closes": iso(closes),
        })  # fmt: skip
    if kind == "retention":
        return Reason(NO_RENEWAL, {"contract_year": step.contract_year, "closes": iso(closes)})
    if kind == "expansion":
        return Reason(NO_EXPANSION, {"events": list(step.events), "closes": iso(closes)})
    if kind == "outcome":
        return Reason(OUTCOME_NOT_ACCEPTED, {"closes": iso(closes), "agreement": facts.agreement})
    return Reason(WINDOW_CLOSED, {"closes": iso(closes)})


class Evaluation(NamedTuple):
    """What the evaluation of one engagement records: its steps' states, the ACV of each
    contract year as known then, and the next date its state could change without new
    data (None: never)."""

    states: list
    acv: dict
    next_change_on: datetime.date | None


def evaluate_engagement(facts: EngagementFacts, as_of: datetime.date) -> Evaluation:
    """`evaluate`, the ACV of each contract year and `next_change_on` at once, reading the
    signals once."""
    timeline = _Timeline(facts.signals, as_of)
    return Evaluation(
        states=evaluate(facts, as_of, timeline=timeline),
        acv={year: timeline.acv(year, facts.year1_acv, as_of) for year in (1, 2, 3)},
        next_change_on=next_change_on(facts, as_of),
    )


def evaluate(facts: EngagementFacts, as_of: datetime.date, *, timeline=None) -> list[StepState]:
    """Every step's state as of `as_of`; a repeat expansion step yields one state per reward.

    `timeline`: the signals as of `as_of`, if already read.
    """
    timeline = timeline or _Timeline(facts.signals, as_of)
    terminated = facts.partner_terminated_on
    stops = _Stops(timeline.churn, terminated if terminated and terminated <= as_of else None)
    stop_on = stops.on
    # Nothing fires on or after the churn (or termination) date, nor after as_of.
    last_day = min(as_of, stop_on - DAY) if stop_on else as_of

    states = []
    for step in facts.structure.steps:
        opens, closes = step_window(step, facts)
        common = {"key": step.key, "kind": step.kind, "opens": opens, "closes": closes}
        if step.kind == "expansion" and step.repeat:
            hi = min(closes, last_day)
            fired = [
                e
                for e in timeline.expansions
                if e.type in step.events and opens <= e.occurred_at <= hi
            ]
            for event in fired:
                states.append(
                    StepState(
                        **common,
                        status=EARNED,
                        trigger_date=event.occurred_at,
                        amount=_reward(step, facts, timeline, event.occurred_at, event),
                        event_key=event.id,
                        reason=_fired(_expansion_reason(event), event.occurred_at),
                    )
                )
            # One more state for what the window can still bring: pending while it
            # is open, void when stopped, missed when it closed without any event.
            status = _unfired_status(closes, stop_on, as_of)
            if status != MISSED or not fired:
                states.append(_unfired(step, facts, timeline, common, status, stops, as_of))
            continue
        trigger, event, reason = _find_trigger(step, facts, timeline, opens, closes, last_day)
        if trigger is not None:
            states.append(
                StepState(
                    **common,
                    status=EARNED,
                    trigger_date=trigger,
                    amount=_reward(step, facts, timeline, trigger, event),
                    event_key="",
                    reason=_fired(reason, trigger),
                )
            )
        else:
            status = _unfired_status(closes, stop_on, as_of)
            states.append(_unfired(step, facts, timeline, common, status, stops, as_of))
    return states


def _unfired(step, facts, timeline, common, status, stops, as_of):
    if status == PENDING:
        expected = (
            None
            if step.amount is None and step.basis == "expansion_acv_delta"
            else _reward(step, facts, timeline, as_of)
        )
        opens = common["opens"]
        return StepState(
            **common,
            status=PENDING,
            amount=expected,
            at_risk=_at_risk(step, facts, timeline, opens, as_of),
            reason=(
                Reason(OPENS_LATER, {"opens": iso(opens)})
                if as_of < opens
                else Reason(WINDOW_OPEN, {"closes": iso(common["closes"])})
            ),
        )
    if status == VOID:
        return StepState(**common, status=VOID, void_on=stops.on, reason=_void_reason(stops))
    return StepState(
        **common, status=status, reason=_missed_reason(step, facts, timeline, common["closes"])
    )


def _void_reason(stops):
    """Why nothing can fire any more: the churn, else the partner's termination."""
    churn, terminated = stops.churn, stops.terminated
    if churn is not None and (terminated is None or churn.occurred_at <= terminated):
        return Reason(CHURNED, {"churned_on": iso(churn.occurred_at), "signal_id": churn.id})
    return Reason(PARTNER_TERMINATED, {"terminated_on": iso(terminated)})


class RewardFact(NamedTuple):
    """A reward already recorded, with what has been taken back from it so far."""

    id: int
    step_key: str
    event_key: str
    trigger_date: datetime.date
    amount: Decimal
    clawed_back: Decimal = Decimal(0)
    clawback_kinds: frozenset = frozenset()
    taken_back: Reason | None = None  # why, if it was (a reversal over a clawback)


@dataclass(frozen=True)
class ClawbackDue:
    reward_id: int
    kind: str  # "clawback" or "reversal"
    cause_id: str | None  # the churn or chargeback signal's id
    cause_date: datetime.date
    percent: Decimal
    window_days: int | None
    amount: Decimal
    effective_date: datetime.date


def clawbacks_due(facts: EngagementFacts, rewards, as_of: datetime.date) -> list[ClawbackDue]:
    """What must now be taken back from `rewards` (SPEC §5 and §2), beyond what already was.

    A churn dated on or before a reward's trigger date disproves it: the rest of
    it is reversed in full. Otherwise a churn or chargeback dated c with
    t ≤ c ≤ t + window_days claws back the structure's percent, once per reward.
    Nothing ever takes back more than the reward.
    """
    structure = facts.structure
    events = sorted(
        (s for s in facts.signals if s.type in ("churn", "chargeback") and s.occurred_at <= as_of),
        key=lambda s: (s.occurred_at, s.id),
    )
    churns = [s for s in events if s.type == "churn"]
    first_churn = churns[0] if churns else None
    terminated = facts.partner_terminated_on
    if terminated is not None and terminated > as_of:
        terminated = None

    due = []
    for reward in rewards:
        remaining = reward.amount - reward.clawed_back
        if remaining <= 0:
            continue
        disproved_by = None
        if first_churn is not None and first_churn.occurred_at <= reward.trigger_date:
            disproved_by = (first_churn.id, first_churn.occurred_at)
        elif terminated is not None and terminated <= reward.trigger_date:
            disproved_by = (None, terminated)
        if disproved_by is not None:
            if "reversal" not in reward.clawback_kinds:
                due.append(
                    ClawbackDue(
                        reward_id=reward.id,
                        kind="reversal",
                        cause_id=disproved_by[0],
                        cause_date=disproved_by[1],
                        percent=HUNDRED,
                        window_days=None,
                        amount=remaining,
                        effective_date=reward.trigger_date,
                    )
                )
            continue
        if "clawback" in reward.clawback_kinds:
            continue
        window_end = reward.trigger_date + datetime.timedelta(days=structure.clawback_window_days)
        cause = next(
            (e for e in events if reward.trigger_date <= e.occurred_at <= window_end), None
        )
        if cause is None:
            continue
        amount = min(
            clawback_amount(reward.amount, structure.clawback_percent, facts.currency), remaining
        )
        if amount > 0:
            due.append(
                ClawbackDue(
                    reward_id=reward.id,
                    kind="clawback",
                    cause_id=cause.id,
                    cause_date=cause.occurred_at,
                    percent=structure.clawback_percent,
                    window_days=structure.clawback_window_days,
                    amount=amount,
                    effective_date=cause.occurred_at,
                )
            )
    return due


def next_change_on(facts: EngagementFacts, as_of: datetime.date) -> datetime.date | None:
    """The first date after `as_of` on which the engagement's states could change without
    new data, or None if never: a window opening or closing, an at-risk horizon of SPEC §7
    being crossed (60 days before a reading or retention step opens, 30 days before an
    outcome is due, 90 days after an active-members reading), a signal dated in the future
    coming into force, the partner's termination. Evaluating before that date with the same
    data gives the same states; it may be earlier than the first actual change."""
    later = []

    def after(day):
        if day > as_of:
            later.append(day)

    at_risk_ahead = {
        "adoption": AT_RISK_READING_DAYS,
        "coverage": AT_RISK_READING_DAYS,
        "retention": AT_RISK_RETENTION_DAYS,
    }
    for step in facts.structure.steps:
        opens, closes = step_window(step, facts)
        after(opens)
        after(closes + DAY)
        if step.kind in at_risk_ahead:
            after(opens - datetime.timedelta(days=at_risk_ahead[step.kind]))
        if step.kind == "outcome":
            for outcome, outcome_closes in _outcome_windows(step, facts):
                due = add_months(facts.signed_at, outcome.due_months)
                after(due - datetime.timedelta(days=AT_RISK_OUTCOME_DAYS))
                after(outcome_closes + DAY)
    for signal in facts.signals:
        after(signal.occurred_at)
        if signal.type == "active_members":
            # It becomes the reading 90 days back (SPEC §7's fall in active members).
            after(signal.occurred_at + datetime.timedelta(days=AT_RISK_MEMBER_WINDOW_DAYS))
    if facts.partner_terminated_on is not None:
        after(facts.partner_terminated_on)
    for outcome in facts.outcomes:
        if outcome.accepted_on is not None:
            after(outcome.accepted_on)
    return min(later, default=None)
