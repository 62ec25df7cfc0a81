"""Dates given on a command line."""

import datetime

from django.core.management.base import CommandError


def iso_date(value):
    """An argparse type: a date written YYYY-MM-DD, or a clear error."""
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Expected a date YYYY-MM-DD, not {value!r}.") from None
