"""django-q2 tasks for payouts: they take primary keys and are safe to run twice."""

import logging

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from payouts.models import Statement
from payouts.services import payout_run_create, statement_issue_pdf

logger = logging.getLogger(__name__)


def statements_render(run_id):
    for statement_id in Statement.objects.filter(run_id=run_id, pdf_sha256="").values_list(
        "pk", flat=True
    ):
        statement_issue_pdf(statement_id)


def run_previous_month():
    """The monthly schedule: the run for the month that just ended."""
    today = timezone.localdate()
    month = (today - relativedelta(months=1)).replace(day=1)
    run, created = payout_run_create(month=month, as_of=today)
    logger.info("Payout run %s %s", run.period, "created" if created else "already existed")
    return run.pk
