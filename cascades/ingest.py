"""Ingesting signals (SPEC §9): validate a batch whole, store it append-only, idempotent by id.

A batch lands whole or not at all. The same id with the same body again is a
no-op; the same id with another body is a conflict.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cascades.dirty import engagements_mark_changed
from cascades.models import Customer, Engagement, Signal
from portal.limits import CONTROL_CHARACTERS, NumberRange, column_range, date_problem, shown

READINGS = {"active_members", "vault_size_gb", "zone_count"}
EXPANSIONS = {"plan_upgrade", "org_added", "marketplace_purchase"}
COMMON = {"id", "customer", "type", "occurred_at"}
FIELDS = {
    "active_members": {"value", "member_ids"},
    "vault_size_gb": {"value"},
    "zone_count": {"value"},
    "renewal": {"contract_year", "acv"},
    "plan_upgrade": {"acv_delta"},
    "org_added": {"acv_delta"},
    "marketplace_purchase": {"acv_delta"},
    "csat": {"score"},
    "churn": set(),
    "chargeback": {"amount"},
}
REQUIRED = {
    "active_members": {"value"},
    "vault_size_gb": {"value"},
    "zone_count": {"value"},
    "renewal": {"contract_year"},
    "plan_upgrade": {"acv_delta"},
    "org_added": {"acv_delta"},
    "marketplace_purchase": {"acv_delta"},
    "csat": {"score"},
    "chargeback": {"amount"},
}
MAX_BATCH = 10_000
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# What each number may be: its column's range, narrowed by the business rule.
VALUE = column_range(Signal, "value").within(low=0)
SCORE = VALUE.within(high=10)
AMOUNT = column_range(Signal, "amount").within(low=0)
CONTRACT_YEAR = column_range(Signal, "contract_year").within(low=1)
MAX_LENGTH = {
    "id": Signal._meta.get_field("signal_id").max_length,
    "customer": Customer._meta.get_field("external_id").max_length,
}


class SignalBatchInvalid(Exception):
    """Bad items in a batch (HTTP 400): `errors` maps each item's index to its bad fields."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__(f"{len(errors)} bad signal(s) in the batch")


class SignalConflict(Exception):
    """Signals whose id is known with another body (HTTP 409)."""

    def __init__(self, ids):
        self.ids = ids
        super().__init__(f"Signals already received with another body: {', '.join(ids)}")


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    engagement_ids: list = field(default_factory=list)


def _decimal(value, errors, name, limits: NumberRange):
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors[name] = 'Must be a decimal string, such as "12.50".'
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors[name] = f"{shown(value)} is not a decimal number."
        return None
    if not number.is_finite():
        errors[name] = f"{shown(value)} is not a decimal number."
    elif problem := limits.problem(number):
        errors[name] = problem
    else:
        return number
    return None


def _canonical(value):
    """One spelling per number, so that "12.5" and "12.50" are the same body."""
    return format(Decimal(str(value)).normalize(), "f")


def parse_signal(raw):
    """(normalised body, typed columns, errors) for one signal of a batch."""
    errors = {}
    if not isinstance(raw, dict):
        return None, None, {"non_field_errors": "Each signal must be an object."}
    kind = raw.get("type")
    known = isinstance(kind, str) and kind in FIELDS
    if not known:
        errors["type"] = f"Unknown type {shown(kind)}; expected one of {', '.join(FIELDS)}."
        allowed = COMMON | set().union(*FIELDS.values())
    else:
        allowed = COMMON | FIELDS[kind]
        for name in sorted(REQUIRED.get(kind, set()) - set(raw)):
            errors[name] = f"This field is required for a {kind} signal."
    for name in sorted(set(raw) - allowed):
        errors[name] = "Unknown field" + (f" for a {kind} signal." if known else ".")
    for name in ("id", "customer"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            errors[name] = "This field is required (a non-empty string)."
        elif len(value) > MAX_LENGTH[name]:
            errors[name] = "Too long."
        elif CONTROL_CHARACTERS.search(value):
            errors[name] = "Must not contain control characters."
    occurred_at = None
    try:
        if not ISO_DATE.fullmatch(raw.get("occurred_at") or ""):
            raise ValueError
        occurred_at = datetime.date.fromisoformat(raw["occurred_at"])
    except (TypeError, ValueError):
        errors["occurred_at"] = "Must be a date YYYY-MM-DD."
    else:
        if problem := date_problem(occurred_at):
            errors["occurred_at"] = problem

    columns = {"value": None, "amount": None, "contract_year": None, "member_ids": None}
    if "value" in raw:
        columns["value"] = _decimal(raw["value"], errors, "value", VALUE)
        value = columns["value"]
        if kind == "active_members" and value is not None and value != value.to_integral_value():
            errors["value"] = "Active members is a whole number."
    if "score" in raw:
        columns["value"] = _decimal(raw["score"], errors, "score", SCORE)
    for name in ("acv", "acv_delta", "amount"):
        if name in raw:
            columns["amount"] = _decimal(raw[name], errors, name, AMOUNT)
    if "contract_year" in raw:
        year = raw["contract_year"]
        if isinstance(year, bool) or not isinstance(year, int):
            errors["contract_year"] = "Must be a whole number, 1 or more."
        elif problem := CONTRACT_YEAR.problem(year):
            errors["contract_year"] = problem
        else:
            columns["contract_year"] = year
    if "member_ids" in raw:
        ids = raw["member_ids"]
        if not isinstance(ids, list) or not all(
            isinstance(i, str) and i and not CONTROL_CHARACTERS.search(i) for i in ids
        ):
            errors["member_ids"] = "Must be a list of (hashed) member identifiers."
        else:
            columns["member_ids"] = ids
    if errors:
        return None, None, errors
    body = {
        key: (_canonical(value) if key in {"value", "score", "acv", "acv_delta", "amount"}
              else value)
        for key, value in raw.items()
    }  # fmt: skip
    columns.update(signal_id=raw["id"], type=kind, occurred_at=occurred_at)
    return body, columns, None


def signals_ingest(*, items, token=None) -> IngestResult:
    """Store a batch of signals whole, or raise ValidationError / SignalConflict and store none.
    `token`, the ops token that sent the batch, is recorded on each new signal."""
    if not isinstance(items, list) or not items:
        raise ValidationError({"signals": ["Send a non-empty list of signals."]})
    if len(items) > MAX_BATCH:
        raise ValidationError({"signals": [f"At most {MAX_BATCH} signals per batch."]})
    parsed, errors = [], {}
    for index, raw in enumerate(items):
        body, columns, item_errors = parse_signal(raw)
        if item_errors:
            errors[index] = item_errors
        else:
            parsed.append((index, body, columns))
    customer_ids = dict(
        Customer.objects.filter(
            external_id__in={body["customer"] for _, body, _ in parsed}
        ).values_list("external_id", "id")
    )
    for index, body, _ in parsed:
        if body["customer"] not in customer_ids:
            errors.setdefault(index, {})["customer"] = f"Unknown customer {body['customer']!r}."
    if errors:
        raise SignalBatchInvalid({str(index): item for index, item in sorted(errors.items())})

    # Idempotency: same id and body → nothing to do; same id, other body → conflict.
    by_id, conflicts = {}, set()
    for _, body, columns in parsed:
        seen = by_id.get(columns["signal_id"])
        if seen is not None and seen[0] != body:
            conflicts.add(columns["signal_id"])
        by_id.setdefault(columns["signal_id"], (body, columns))
    stored = dict(Signal.objects.filter(signal_id__in=by_id).values_list("signal_id", "body"))
    conflicts |= {sid for sid, body in stored.items() if body != by_id[sid][0]}
    if conflicts:
        raise SignalConflict(sorted(conflicts))

    new = [
        Signal(
            customer_id=customer_ids[body["customer"]],
            body=body,
            received_by_token=token,
            **columns,
        )  # fmt: skip
        for sid, (body, columns) in sorted(by_id.items())
        if sid not in stored
    ]
    try:
        with transaction.atomic():
            Signal.objects.bulk_create(new)
            engagements_mark_changed(customer_ids={signal.customer_id for signal in new})
    except IntegrityError:
        # Another request stored some of these ids since we looked: compare again.
        return signals_ingest(items=items, token=token)
    touched = {signal.customer_id for signal in new}
    return IngestResult(
        created=len(new),
        duplicates=len(items) - len(new),
        engagement_ids=list(
            Engagement.objects.filter(customer_id__in=touched).values_list("id", flat=True)
        ),
    )
