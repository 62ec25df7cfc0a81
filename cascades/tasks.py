"""django-q2 tasks: they take primary keys and dates, and are safe to run twice."""

import datetime

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from cascades.evaluation import evaluation_run_perform, evaluation_runs_sweep
from cascades.models import EvaluationRun


def evaluation_run_execute(run_id, engagement_ids=None):
    """Run the evaluation `run_id` describes; a second delivery of a finished run is a no-op.
    Runs whose worker died on the way are marked failed first."""
    evaluation_runs_sweep()
    run = EvaluationRun.objects.get(pk=run_id)
    if run.status != EvaluationRun.Status.DONE:
        evaluation_run_perform(run, engagement_ids=engagement_ids)


def evaluation_enqueue(*, as_of: datetime.date, engagement_ids=None, requested_by=""):
    """Record an evaluation run and queue it once the current transaction commits."""
    if engagement_ids is None:
        scope = "all engagements"
    else:
        count = len(engagement_ids)
        scope = f"{count} engagement{'' if count == 1 else 's'}"
    run = EvaluationRun.objects.create(as_of=as_of, scope=scope, requested_by=requested_by)
    ids = list(engagement_ids) if engagement_ids is not None else None
    transaction.on_commit(
        lambda: async_task(
            "cascades.tasks.evaluation_run_execute", run.pk, ids, task_name=f"evaluation-{run.pk}"
        )
    )
    return run


def evaluate_all_daily():
    """The daily schedule: every engagement, as of today."""
    evaluation_enqueue(as_of=timezone.localdate(), requested_by="daily schedule")
