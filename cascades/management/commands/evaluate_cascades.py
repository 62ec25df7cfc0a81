from django.core.management.base import BaseCommand
from django.template.defaultfilters import pluralize
from django.utils import timezone

from cascades.evaluation import evaluation_run_perform, evaluation_runs_sweep
from cascades.models import EvaluationRun
from portal.dates import iso_date


class Command(BaseCommand):
    help = (
        "Evaluate the cascades that may have changed (every one with --full) as of a date, "
        "and record what fired and the state of every step."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=iso_date,
            default=None,
            help="Evaluate as of this date, YYYY-MM-DD (default: today).",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Evaluate every engagement, not only those that may have changed.",
        )

    def handle(self, *args, as_of=None, full=False, **options):
        as_of = as_of or timezone.localdate()
        stale = evaluation_runs_sweep()
        if stale:
            self.stderr.write(f"{stale} run{pluralize(stale)} whose worker stopped marked failed.")
        run = EvaluationRun.objects.create(as_of=as_of, requested_by="evaluate_cascades")
        tty = hasattr(self.stdout, "isatty") and self.stdout.isatty()

        def progress(done, total):
            if tty and total:
                width = 40
                filled = width * done // total
                self.stdout.write(
                    f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} engagements",
                    ending="",
                )
                self.stdout.flush()

        summary = evaluation_run_perform(run, full=full, progress=progress)
        if tty:
            self.stdout.write("")
        self.stdout.write(
            f"Evaluated {summary.engagements} engagement{pluralize(summary.engagements)} "
            f"as of {as_of:%Y-%m-%d}: "
            f"{summary.rewards_created} rewards and {summary.clawbacks_created} clawbacks created."
        )
