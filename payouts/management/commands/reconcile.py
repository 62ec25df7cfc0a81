from django.core.management.base import BaseCommand, CommandError

from payouts.reconciliation import reconcile


class Command(BaseCommand):
    help = "Check that ledger, statements and payments agree; exit non-zero naming what does not."

    def handle(self, *args, **options):
        problems = reconcile()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(problems)} disagreement(s) found.")
        self.stdout.write("Ledger, statements and payouts agree.")
