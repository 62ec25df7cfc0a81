from django.core.management.base import BaseCommand, CommandError

from portal.models import OpsToken
from portal.tokens import ops_token_issue


class Command(BaseCommand):
    help = "Issue an ops API token for a staff integration; the token is printed once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Which integration will use it, e.g. 'crm'.")

    def handle(self, *args, name, **options):
        name = name.strip()
        if not name:
            raise CommandError("Give the token a name.")
        if OpsToken.objects.filter(name=name).exists():
            raise CommandError(f"A token named {name!r} exists already; pick another name.")
        _, token = ops_token_issue(name=name)
        self.stderr.write(f"Ops token {name!r} issued. It is shown once; store it now:")
        self.stdout.write(token)
