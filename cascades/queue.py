"""Queueing an evaluation for the task cluster (cascades.tasks runs it): a door the
services of any layer may use, naming the task by its path."""

import datetime

from django.db import transaction
from django_q.tasks import async_task

from cascades.models import EvaluationRun


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
