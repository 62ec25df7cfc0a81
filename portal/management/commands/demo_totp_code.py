from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.demo_mfa import DEMO_EMAIL_DOMAIN, demo_totp_code
from portal.models import User


class Command(BaseCommand):
    help = (
        "Print the current two-factor code of a demo staff account (staff@demo.example, "
        "ops@, finance@, risk@), to sign in to the admin without an authenticator app. "
        "DEBUG=1 only."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The demo account, e.g. ops@demo.example.")

    def handle(self, *args, email, **options):
        if not settings.DEBUG:
            raise CommandError("demo_totp_code prints codes of published secrets: DEBUG=1 only.")
        email = email.strip().lower()
        if not email.endswith(DEMO_EMAIL_DOMAIN):
            raise CommandError(f"{email} is not a demo account ({DEMO_EMAIL_DOMAIN}).")
        user = User.objects.filter(email=email).first()
        if user is None:
            raise CommandError(f"No account {email}: run `python manage.py seed_demo` first.")
        try:
            code = demo_totp_code(user)
        except Authenticator.DoesNotExist:
            raise CommandError(f"{email} has no two-factor authenticator.") from None
        self.stdout.write(code)
