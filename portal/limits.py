"""What the database and the engine hold: the range and decimal places of a numeric
column, read from its model field; the dates the APIs take; text without control
characters. Input outside them is a 400 naming the field, never an overflow (a 500).

Integer ranges are PostgreSQL's (Django's portable ones), whatever the database: SQLite
would store more, and the same request must not pass on one and fail on the other.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from rest_framework import serializers

# No identifier, URL or query string needs these; PostgreSQL stores no NUL at all.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

# The dates the APIs take. The engine adds spans of up to a century to them (the longest
# a structure allows) and subtracts a few months: beyond these a date is a typo, and near
# year 1 or 9999 the arithmetic leaves the calendar.
EARLIEST_DATE = datetime.date(1900, 1, 1)
LATEST_DATE = datetime.date(2999, 12, 31)


def shown(value) -> str:
    """`value` as an error message quotes it: never the whole of a hostile one."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class NumberRange:
    low: Decimal
    high: Decimal
    places: int | None  # decimal places kept (0 for an integer column); None: any, rounded

    def within(self, *, low=None, high=None, places=None) -> NumberRange:
        """This range narrowed by a business rule."""
        if places is None or (self.places is not None and self.places < places):
            places = self.places
        return replace(
            self,
            low=self.low if low is None else max(self.low, Decimal(low)),
            high=self.high if high is None else min(self.high, Decimal(high)),
            places=places,
        )

    def rounded(self) -> NumberRange:
        """This range for a number rounded to the column's places before it is stored."""
        return replace(self, places=None)

    def problem(self, number: Decimal | int) -> str | None:
        """Why the finite `number` does not fit, in a sentence; None when it does."""
        if number < self.low:
            return f"Must be at least {self.low}."
        if number > self.high:
            return f"Must be at most {self.high}."
        if self.places is None:
            return None
        if number == Decimal(number).quantize(Decimal(1).scaleb(-self.places)):
            return None
        if self.places == 0:
            return "Must be a whole number."
        return f"At most {self.places} decimal places."


def column_range(model, name) -> NumberRange:
    """The numbers the column `model.name` holds."""
    field = model._meta.get_field(name)
    if isinstance(field, models.DecimalField):
        places = field.decimal_places
        high = Decimal(10) ** (field.max_digits - places) - Decimal(1).scaleb(-places)
        return NumberRange(low=-high, high=high, places=places)
    low, high = BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]
    return NumberRange(low=Decimal(low), high=Decimal(high), places=0)


def number_field(model, name, *, min_value=None, max_value=None, **kwargs):
    """A serializer field taking what the column `model.name` holds, narrowed by
    `min_value` / `max_value`."""
    limits = column_range(model, name).within(low=min_value, high=max_value)
    field = model._meta.get_field(name)
    if isinstance(field, models.DecimalField):
        return serializers.DecimalField(
            max_digits=field.max_digits,
            decimal_places=field.decimal_places,
            min_value=limits.low,
            max_value=limits.high,
            **kwargs,
        )
    return serializers.IntegerField(min_value=int(limits.low), max_value=int(limits.high), **kwargs)


def date_problem(day: datetime.date) -> str | None:
    if EARLIEST_DATE <= day <= LATEST_DATE:
        return None
    return f"Must be between {EARLIEST_DATE:%Y-%m-%d} and {LATEST_DATE:%Y-%m-%d}."


class DateField(serializers.DateField):
    """A date between EARLIEST_DATE and LATEST_DATE."""

    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if problem := date_problem(day):
            raise serializers.ValidationError(problem, code="invalid")
        return day
