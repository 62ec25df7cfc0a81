import pytest
from django.core.exceptions import ValidationError

from portal.models import Partner, PartnerStatusChange
from portal.services import partner_set_status
from tests.portal.factories import PartnerFactory, StaffUserFactory

pytestmark = pytest.mark.django_db


def test_review_then_reactivation_is_recorded_in_order():
    partner = PartnerFactory()
    staff = StaffUserFactory()
    partner_set_status(partner=partner, status="under_review", reason="case 1", by=staff)
    partner_set_status(partner=partner, status="active", reason="cleared", by=staff)
    partner.refresh_from_db()
    assert partner.status == Partner.Status.ACTIVE
    assert list(
        PartnerStatusChange.objects.order_by("changed_at", "pk").values_list(
            "from_status", "to_status", "reason"
        )
    ) == [("active", "under_review", "case 1"), ("under_review", "active", "cleared")]


def test_termination_is_final_and_a_refused_move_changes_nothing():
    partner = PartnerFactory()
    partner_set_status(partner=partner, status="terminated", reason="fraud")
    with pytest.raises(ValidationError) as excinfo:
        partner_set_status(partner=partner, status="active", reason="appeal")
    assert "status" in excinfo.value.message_dict
    partner.refresh_from_db()
    assert partner.status == Partner.Status.TERMINATED
    assert PartnerStatusChange.objects.count() == 1


def test_a_status_change_needs_a_reason():
    partner = PartnerFactory()
    with pytest.raises(ValidationError):
        partner_set_status(partner=partner, status="under_review", reason="")
    assert PartnerStatusChange.objects.count() == 0
