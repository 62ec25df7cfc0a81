"""django-q2 tasks for attestations: safe to run twice."""

from django.utils import timezone

from attestations.services import attestations_daily


def attestations_daily_task():
    """The daily schedule: outcome links as they fall due, and expiry reminders."""
    return attestations_daily(as_of=timezone.localdate())
