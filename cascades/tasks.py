"""django-q2 tasks: they take primary keys and dates, and are safe to run twice."""

from django.utils import timezone

from cascades.evaluation import evaluation_run_perform, evaluation_runs_sweep
from cascades.models import EvaluationRun
from cascades.queue import evaluation_enqueue


def evaluation_run_execute(run_id, engagement_ids=None):
    """Run the evaluation `run_id` describes; a second delivery of a finished run is a no-op.
    Runs whose worker died on the way are marked failed first."""
    evaluation_runs_sweep()
    run = EvaluationRun.objects.get(pk=run_id)
    if run.status != EvaluationRun.Status.DONE:
        evaluation_run_perform(run, engagement_ids=engagement_ids)


def evaluate_all_daily():
    """The daily schedule, as of today: every engagement whose inputs changed or whose
    state may have changed since its last evaluation (cascades.evaluation)."""
    evaluation_enqueue(as_of=timezone.localdate(), requested_by="daily schedule")
