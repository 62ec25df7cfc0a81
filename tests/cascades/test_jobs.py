import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from cascades.models import EvaluationRun, Reward
from cascades.tasks import evaluate_all_daily
from tests.cascades.factories import EngagementFactory

pytestmark = pytest.mark.django_db


def test_evaluate_cascades_command_records_a_run_and_reports_it():
    EngagementFactory(signed_at=datetime.date(2026, 1, 10))
    out = StringIO()

    call_command("evaluate_cascades", "--as-of=2026-05-01", stdout=out)

    # Authorized default structure: signup on 2026-01-10, three months active on 2026-04-10.
    assert set(Reward.objects.values_list("step_key", flat=True)) == {"signup", "active_3m"}
    run = EvaluationRun.objects.get()
    assert (run.status, run.as_of, run.engagements_done, run.rewards_created) == (
        "done",
        datetime.date(2026, 5, 1),
        1,
        2,
    )
    assert "Evaluated 1 engagement as of 2026-05-01: 2 rewards and 0 clawbacks" in out.getvalue()


def test_evaluate_cascades_refuses_a_bad_date():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("evaluate_cascades", "--as-of=May 1st", stdout=StringIO())
    assert not EvaluationRun.objects.exists()


def test_the_task_cluster_evaluates_every_engagement_daily(django_capture_on_commit_callbacks):
    schedule = Schedule.objects.get(name="Evaluate cascades daily")
    assert (schedule.func, schedule.schedule_type) == ("cascades.tasks.evaluate_all_daily", "D")
    EngagementFactory(signed_at=datetime.date(2026, 1, 10))

    with django_capture_on_commit_callbacks(execute=True):
        evaluate_all_daily()

    run = EvaluationRun.objects.get()
    assert (run.scope, run.status, run.requested_by) == (
        "all engagements",
        "done",
        "daily schedule",
    )
