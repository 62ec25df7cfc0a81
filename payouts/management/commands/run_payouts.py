from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize
from django.utils import timezone

from payouts.services import parse_period, payout_run_create
from portal.dates import iso_date


class Command(BaseCommand):
    help = "Create the payout run (draft) of a month: one statement per partner and currency."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month, YYYY-MM.")
        parser.add_argument(
            "--as-of", type=iso_date, default=None, help="Today, YYYY-MM-DD (default: today)."
        )

    def handle(self, *args, period, as_of=None, **options):
        try:
            run, created = payout_run_create(
                month=parse_period(period), as_of=as_of or timezone.localdate()
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        statements = run.statements.count()
        verb = "Created" if created else "Already existed:"
        self.stdout.write(
            f"{verb} payout run {run.period} ({run.status}) with {statements} "
            f"statement{pluralize(statements)}."
        )
