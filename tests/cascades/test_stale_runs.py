"""A run whose worker died (killed, timed out, its host gone) does not stay "running"."""

import datetime
import threading

import pytest
from django.db import connection, connections

from cascades.evaluation import evaluation_run_perform, evaluation_runs_sweep, run_lock_space
from cascades.models import EvaluationRun

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


class Worker:
    """Another database session holding a run's lock, as the worker running it does."""

    def __init__(self, run):
        self.holding, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._work, args=(run.pk,))
        self.thread.start()
        assert self.holding.wait(timeout=10)

    def _work(self, run_id):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s, %s)", [run_lock_space(), run_id])
            self.holding.set()
            self.stop.wait(timeout=30)
        finally:
            connections.close_all()  # the session ends: PostgreSQL drops its locks

    def dies(self):
        self.stop.set()
        self.thread.join(timeout=10)


def running_run():
    return EvaluationRun.objects.create(
        as_of=datetime.date(2026, 11, 1), status=EvaluationRun.Status.RUNNING
    )


def test_a_run_is_marked_failed_once_its_worker_no_longer_holds_its_lock():
    run, done = (
        running_run(),
        EvaluationRun.objects.create(
            as_of=datetime.date(2026, 11, 1), status=EvaluationRun.Status.DONE
        ),
    )
    worker = Worker(run)

    assert evaluation_runs_sweep() == 0  # its worker is at work
    run.refresh_from_db()
    assert run.status == "running"

    worker.dies()
    assert evaluation_runs_sweep() == 1

    run.refresh_from_db()
    assert (run.status, run.finished_at is not None) == ("failed", True)
    assert run.error.startswith("Its worker stopped before the run finished")
    done.refresh_from_db()
    assert done.status == "done"
    assert evaluation_runs_sweep() == 0


def test_a_run_delivered_twice_is_left_to_the_worker_that_holds_it():
    run = running_run()
    worker = Worker(run)
    try:
        assert evaluation_run_perform(run) is None
        run.refresh_from_db()
        assert (run.status, run.engagements_done) == ("running", 0)
    finally:
        worker.dies()
