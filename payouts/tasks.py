"""django-q2 tasks for payouts: they take primary keys and are safe to run twice."""

import hashlib
import logging

from dateutil.relativedelta import relativedelta
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from payouts.models import Statement
from payouts.services import payout_run_create

logger = logging.getLogger(__name__)


def statement_issue_pdf(statement_id):
    """Render a statement's PDF once and keep it with its SHA-256; never again after."""
    from payouts.pdf import statement_pdf_bytes

    with transaction.atomic():
        statement = (
            Statement.objects.select_for_update()
            .select_related("run__period", "partner")
            .get(pk=statement_id)
        )
        if statement.pdf_sha256:
            return statement
        data = statement_pdf_bytes(statement)
        partner, currency = statement.partner.external_id, statement.currency
        name = f"statement-{statement.run.period}-{partner}-{currency}.pdf"
        statement.pdf.save(name, ContentFile(data), save=False)
        statement.pdf_sha256 = hashlib.sha256(data).hexdigest()
        statement.save(update_fields=["pdf", "pdf_sha256"])
    return statement


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
