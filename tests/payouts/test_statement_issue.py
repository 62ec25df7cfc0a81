import datetime
import hashlib

import pytest
from django.contrib.auth.models import Group

from payouts.models import Statement
from payouts.services import payout_run_create, statement_issue_pdf
from tests.cascades.factories import EngagementFactory
from tests.payouts.factories import post
from tests.portal.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_run_renders_its_statements_in_the_task_cluster_once(django_capture_on_commit_callbacks):
    post(EngagementFactory(), "cascade_reward", "300.00", datetime.date(2026, 11, 10))

    with django_capture_on_commit_callbacks(execute=True):
        payout_run_create(month=datetime.date(2026, 11, 1), as_of=datetime.date(2026, 12, 1))

    statement = Statement.objects.get()
    with statement.pdf.open("rb") as issued:
        content = issued.read()
    assert content.startswith(b"%PDF")
    assert statement.pdf_sha256 == hashlib.sha256(content).hexdigest()

    # Issued means issued: rendering again keeps the very same file.
    again = statement_issue_pdf(statement.pk)
    assert (again.pdf.name, again.pdf_sha256) == (statement.pdf.name, statement.pdf_sha256)


@pytest.mark.parametrize(
    ("who", "status"),
    [("Finance", 200), ("Partner operations", 200), ("Risk", 403), ("partner", 404)],
)
def test_the_issued_pdf_downloads_for_staff_who_see_statements_only(
    client, django_capture_on_commit_callbacks, who, status
):
    post(EngagementFactory(), "cascade_reward", "300.00", datetime.date(2026, 11, 10))
    with django_capture_on_commit_callbacks(execute=True):
        payout_run_create(month=datetime.date(2026, 11, 1), as_of=datetime.date(2026, 12, 1))
    statement = Statement.objects.get()
    if who == "partner":
        user = UserFactory(partner=statement.partner)  # even the statement's own partner
    else:
        user = StaffUserFactory()
        user.groups.add(Group.objects.get(name=who))
    client.force_login(user)

    response = client.get(f"/admin/payouts/statement/{statement.pk}/pdf/")

    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "application/pdf"
        assert b"".join(response.streaming_content).startswith(b"%PDF")
