"""The evaluation engine: a pure function from an engagement's data to its steps' states.

No database, no clock: given the snapshot, the ACVs, the signals, the outcome
acceptances and an as-of date, `evaluate` says for every step whether it is
pending, earned (with trigger date and amount), missed or void, exactly as SPEC
§2 defines it. Trigger dates come from the data, so evaluating late or twice
gives the same answer.
"""

from __future__ import annotations

import bisect
import datetime
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from dateutil.relativedelta import relativedelta

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


# Where the engagement's Outcome Attestation Agreement stands (SPEC §4).
NO_AGREEMENT, AGREEMENT_UNSIGNED, AGREEMENT_SIGNED = "none", "unsigned", "signed"


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
    at_risk: tuple[str, ...] = ()


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

    __slots__ = ("readings", "renewals", "expansions", "churn_on")

    def __init__(self, signals, as_of):
        readings, renewals, expansions, churn_on = {}, [], [], None
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
                if value is not None and (day not in by_day or value > by_day[day]):
                    by_day[day] = value
            elif kind == "renewal":
                renewals.append(signal)
            elif kind in EXPANSION_TYPES:
                expansions.append(signal)
            elif kind == "churn" and (churn_on is None or day < churn_on):
                churn_on = day
        self.readings = {k: sorted(v.items()) for k, v in readings.items()}
        renewals.sort(key=lambda s: (s.occurred_at, s.id))
        expansions.sort(key=lambda s: (s.occurred_at, s.id))
        self.renewals, self.expansions, self.churn_on = renewals, expansions, churn_on

    def latest_reading(self, kind, on_or_before):
        series = self.readings.get(kind, ())
        index = bisect.bisect_right(series, (on_or_before, Decimal("Infinity")))
        return series[index - 1] if index else None

    def first_day_at_least(self, kind, threshold, lo, hi):
        """First d in [lo, hi] whose latest reading dated ≤ d is ≥ threshold."""
        if lo > hi:
            return None
        latest = self.latest_reading(kind, lo)
        if latest is not None and latest[1] >= threshold:
            return lo
        series = self.readings.get(kind, ())
        start = bisect.bisect_right(series, (lo, Decimal("Infinity")))
        for day, value in series[start:]:
            if day > hi:
                break
            if value >= threshold:
                return day
        return None

    def renewal_date(self, contract_year):
        for signal in self.renewals:
            if signal.contract_year == contract_year:
                return signal.occurred_at
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


def _find_trigger(step, facts, timeline, opens, closes, last_day):
    """(trigger date, expansion event) of a non-repeating step, or (None, None)."""
    hi = min(closes, last_day)
    if opens > hi:
        return None, None
    kind = step.kind
    if kind == "signup":
        return (facts.signed_at, None) if opens == facts.signed_at else (None, None)
    if kind == "tenure":
        return opens, None
    if kind == "adoption":
        return timeline.first_day_at_least(
            "active_members", step.min_active_members, opens, hi
        ), None
    if kind == "coverage":
        return timeline.first_day_at_least(step.metric, step.threshold, opens, hi), None
    if kind == "sentiment":
        return timeline.first_day_at_least("csat", step.min_score, opens, hi), None
    if kind == "retention":
        renewed = timeline.renewal_date(step.contract_year)
        if renewed is None:
            return None, None
        day = max(opens, renewed)
        return (day, None) if day <= hi else (None, None)
    if kind == "expansion":
        for event in timeline.expansions:
            if event.type in step.events and opens <= event.occurred_at <= hi:
                return event.occurred_at, event
        return None, None
    if kind == "outcome":
        if facts.agreement != AGREEMENT_SIGNED:
            return None, None  # without a signed agreement no outcome step fires (SPEC §4)
        accepted = [
            outcome.accepted_on
            for outcome, outcome_closes in _outcome_windows(step, facts)
            if outcome.accepted_on is not None
            and opens <= outcome.accepted_on <= min(outcome_closes, last_day)
        ]
        return (min(accepted), None) if accepted else (None, None)
    raise ValueError(f"unknown step kind {kind!r}")


def step_window(step: Step, facts: EngagementFacts):
    """(opens, closes) of `step` for this engagement (SPEC §2 "When a step fires")."""
    opens = add_months(facts.signed_at, step.opens_after_months)
    closes = opens + datetime.timedelta(days=step.closes_after_days)
    if step.kind == "outcome":
        windows = _outcome_windows(step, facts)
        if windows:
            closes = max(outcome_closes for _, outcome_closes in windows)
    return opens, closes


def _unfired_status(closes, stop_on, as_of):
    """A step that has not fired: void if stopped in its window, else missed or pending."""
    if stop_on is not None and stop_on <= as_of and stop_on <= closes:
        return VOID
    if closes < as_of:
        return MISSED
    return PENDING


def _number(value):
    """A reading as people write it: 10, not 10.0000."""
    return format(Decimal(value).normalize(), "f")


def _at_risk(step, facts, timeline, opens, as_of):
    reasons = []
    if facts.gaming_case_open:
        reasons.append("An open gaming case names this engagement.")
    if step.kind in ("adoption", "coverage") and opens <= as_of + datetime.timedelta(
        days=AT_RISK_READING_DAYS
    ):
        metric = "active_members" if step.kind == "adoption" else step.metric
        threshold = step.min_active_members if step.kind == "adoption" else step.threshold
        latest = timeline.latest_reading(metric, as_of)
        if latest is not None and latest[1] < threshold:
            reasons.append(
                f"Latest {metric} reading {_number(latest[1])} is below {_number(threshold)}."
            )
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
            reasons.append(
                f"Active members fell from {_number(before[1])} to {_number(now[1])} in 90 days."
            )
        csat = timeline.latest_reading("csat", as_of)
        if csat is not None and csat[1] < AT_RISK_CSAT_BELOW:
            reasons.append(f"Last CSAT score was {_number(csat[1])}.")
    if step.kind == "outcome":
        if facts.agreement == NO_AGREEMENT:
            reasons.append("No agreement: the customer has no Outcome Attestation Agreement.")
        elif facts.agreement == AGREEMENT_UNSIGNED:
            reasons.append(
                "Agreement not signed: the customer has not signed its Outcome Attestation "
                "Agreement."
            )
        for outcome, _ in _outcome_windows(step, facts):
            due = add_months(facts.signed_at, outcome.due_months)
            if outcome.rejected:
                reasons.append(f"The attestation of {outcome.key!r} was rejected.")
            elif not outcome.attested and due <= as_of + datetime.timedelta(
                days=AT_RISK_OUTCOME_DAYS
            ):
                reasons.append(f"Outcome {outcome.key!r} is due {due:%Y-%m-%d} and not attested.")
    return tuple(reasons)


def evaluate(
    facts: EngagementFacts, as_of: datetime.date, *, detail: bool = True
) -> list[StepState]:
    """Every step's state as of `as_of`; a repeat expansion step yields one state per reward.

    With `detail=False` (batch evaluation, which records only what fired) pending steps
    carry neither their expected amount nor their at-risk reasons.
    """
    timeline = _Timeline(facts.signals, as_of)
    stops = [d for d in (timeline.churn_on, facts.partner_terminated_on) if d and d <= as_of]
    stop_on = min(stops) if stops else None
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
                    )
                )
            # One more state for what the window can still bring: pending while it
            # is open, void when stopped, missed when it closed without any event.
            status = _unfired_status(closes, stop_on, as_of)
            if status != MISSED or not fired:
                states.append(
                    _unfired(step, facts, timeline, common, status, stop_on, as_of, detail)
                )
            continue
        trigger, event = _find_trigger(step, facts, timeline, opens, closes, last_day)
        if trigger is not None:
            states.append(
                StepState(
                    **common,
                    status=EARNED,
                    trigger_date=trigger,
                    amount=_reward(step, facts, timeline, trigger, event),
                    event_key="",
                )
            )
        else:
            status = _unfired_status(closes, stop_on, as_of)
            states.append(_unfired(step, facts, timeline, common, status, stop_on, as_of, detail))
    return states


def _unfired(step, facts, timeline, common, status, stop_on, as_of, detail=True):
    if status == PENDING and not detail:
        return StepState(**common, status=PENDING)
    if status == PENDING:
        expected = (
            None
            if step.amount is None and step.basis == "expansion_acv_delta"
            else _reward(step, facts, timeline, as_of)
        )
        return StepState(
            **common,
            status=PENDING,
            amount=expected,
            at_risk=_at_risk(step, facts, timeline, common["opens"], as_of),
        )
    return StepState(**common, status=status, void_on=stop_on if status == VOID else None)


class RewardFact(NamedTuple):
    """A reward already recorded, with what has been taken back from it so far."""

    id: int
    step_key: str
    event_key: str
    trigger_date: datetime.date
    amount: Decimal
    clawed_back: Decimal = Decimal(0)
    clawback_kinds: frozenset = frozenset()


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


def acv_by_year(facts: EngagementFacts, as_of: datetime.date) -> dict[int, Decimal]:
    """Years 1–3 ACV as known on `as_of`: renewals may carry the next year's ACV."""
    timeline = _Timeline(facts.signals, as_of)
    return {year: timeline.acv(year, facts.year1_acv, as_of) for year in (1, 2, 3)}
