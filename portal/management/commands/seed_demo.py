from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from django.utils import timezone

from portal.dates import iso_date
from portal.demo import DEMO_PASSWORD, DemoExists, demo_as_of, seed_demo


class Command(BaseCommand):
    help = "Create or refresh the demo data (idempotent), spread over 30 months before --as-of."

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=iso_date,
            default=None,
            help="The demo's today, YYYY-MM-DD (default: today).",
        )
        parser.add_argument(
            "--skip-pdfs",
            action="store_true",
            help="Do not render the statements' PDFs now (the task cluster will).",
        )
        parser.add_argument(
            "--not-a-demo-site",
            action="store_true",
            help="Seed although DEBUG is off (for test databases only).",
        )

    def handle(self, *args, as_of=None, not_a_demo_site=False, skip_pdfs=False, **options):
        if not settings.DEBUG and not not_a_demo_site:
            raise CommandError(
                "seed_demo creates accounts with a published password: it runs with DEBUG=1 only."
            )
        # Without --as-of, an existing demo keeps the date it was seeded with.
        as_of = as_of or demo_as_of() or timezone.localdate()
        try:
            # The demo's customers are made up: the emails their links would go out in
            # stay here rather than flood the console with links the demo then uses.
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
                summary = seed_demo(as_of=as_of, pdfs=not skip_pdfs)
        except DemoExists as exists:
            raise CommandError(
                f"{exists} Remove var/portal.sqlite3 (make demo-reset) to seed another date."
            ) from None
        out = self.stdout
        site = settings.PORTAL_BASE_URL.rstrip("/")
        out.write(
            self.style.SUCCESS(
                f"Demo data as of {summary.as_of:%Y-%m-%d}: {len(summary.partners)} partners, "
                f"{summary.customers} customers, {summary.engagements} engagements, "
                f"{summary.signals} signals, evaluated."
            )
        )
        out.write(f"\nAll demo accounts use the password: {DEMO_PASSWORD}\n")
        out.write(f"Partner logins ({site}/):")
        for email, partner_name, role in summary.partner_logins:
            out.write(f"  {email:<32} {role:<7} {partner_name}")
        out.write(f"Staff logins ({site}/admin/), with a two-factor code from "
                  "`make demo-code EMAIL=...`:")  # fmt: skip
        for email, role in summary.staff_logins:
            out.write(f"  {email:<32} {role}")
        for run in summary.payout_runs:
            out.write(f"Payout run {run.period}: {run.status}, {run.statements.count()} statements")
        if summary.ops_token:
            out.write(f"Ops API token (README walk-through, shown once): {summary.ops_token}")
        else:
            out.write(
                "Ops API token: shown when the demo was first seeded; "
                "`python manage.py issue_ops_token NAME` issues another."
            )
        if summary.attestation_link:
            out.write(
                "A customer's link to sign its agreement (no account needed, not used yet):\n"
                f"  {summary.attestation_link}"
            )
