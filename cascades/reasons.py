"""Why a step is in its state: the reason codes the engine (cascades.engine) gives with
the facts behind each, and the values those facts hold. Sentences for people are made
from them in one place, cascades.explanations. No imports from the rest of the project:
the engine, the explanations and the models all read these names."""

import datetime
from decimal import Decimal
from typing import NamedTuple

# Where the engagement's Outcome Attestation Agreement stands (SPEC §4).
NO_AGREEMENT, AGREEMENT_UNSIGNED, AGREEMENT_SIGNED = "none", "unsigned", "signed"


class Reason(NamedTuple):
    """Why: a code (the names below) and the facts behind it, JSON values only."""

    code: str
    facts: dict


# Why a step fired (it is earned).
# Each also has fired_on, the trigger date.
SIGNED = "signed"  # signed_at
TENURE_REACHED = "tenure_reached"  # months
READING_REACHED = "reading_reached"  # metric, reading, reading_date, threshold, signal_id
RENEWED = "renewed"  # contract_year, renewed_on, signal_id
EXPANSION_EVENT = "expansion_event"  # event, signal_id, acv_delta
OUTCOME_ACCEPTED = "outcome_accepted"  # outcome_key, accepted_on
# Why an earned step's reward was taken back (SPEC §5), wholly or in part.
CLAWED_BACK = "clawed_back"  # fired_on, percent, amount, cause, cause_date, days_after
REVERSED = "reversed"  # fired_on, amount, cause, cause_date
# Why a step is pending.
OPENS_LATER = "opens_later"  # opens
WINDOW_OPEN = "window_open"  # closes
# Why a pending step is at risk (SPEC §7): each reason a pending step may have.
GAMING_CASE_OPEN = "gaming_case_open"
READING_BELOW = "reading_below"  # metric, reading, reading_date, threshold
MEMBERS_FELL = "members_fell"  # before, now, days
CSAT_BELOW = "csat_below"  # score, below
NO_AGREEMENT_SIGNED = "no_agreement"
AGREEMENT_NOT_SIGNED = "agreement_unsigned"
ATTESTATION_REJECTED = "attestation_rejected"  # outcome_key
OUTCOME_NOT_ATTESTED = "outcome_not_attested"  # outcome_key, due
# Why a step was missed: its window closed.
READING_NOT_REACHED = "reading_not_reached"  # metric, reading, reading_date, threshold, closes
NO_RENEWAL = "no_renewal"  # contract_year, closes
NO_EXPANSION = "no_expansion"  # events, closes
OUTCOME_NOT_ACCEPTED = "outcome_not_accepted"  # closes, agreement
WINDOW_CLOSED = "window_closed"  # closes
# Why a step is void: it can no longer fire.
CHURNED = "churned"  # churned_on, signal_id
PARTNER_TERMINATED = "partner_terminated"  # terminated_on


def iso(day: datetime.date | None) -> str | None:
    return None if day is None else day.isoformat()


def decimal_text(value) -> str | None:
    """A number as the facts keep it: 10, not 10.0000; 2.5, not 2.50."""
    return None if value is None else format(Decimal(value).normalize(), "f")
