import datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from payouts.models import LedgerEntry
from portal.append_only import AppendOnlyError
from tests.cascades.factories import EngagementFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry():
    engagement = EngagementFactory()
    return LedgerEntry.objects.create(
        partner=engagement.partner, engagement=engagement, kind="standard_commission",
        amount=Decimal("4800.00"), currency="USD", effective_date=datetime.date(2026, 3, 15),
    )  # fmt: skip


def test_ledger_entries_cannot_be_changed_or_deleted_through_the_orm(entry):
    entry.amount = Decimal("1.00")
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=Decimal("1.00"))
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.all().delete()
    assert LedgerEntry.objects.get(pk=entry.pk).amount == Decimal("4800.00")


@pytest.mark.postgres
def test_postgresql_refuses_an_update_behind_the_orms_back(entry):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE payouts_ledgerentry SET amount = 1 WHERE id = %s", [entry.pk])
    assert LedgerEntry.objects.get(pk=entry.pk).amount == Decimal("4800.00")
