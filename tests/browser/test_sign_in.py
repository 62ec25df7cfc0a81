import pytest

from tests.cascades.factories import EngagementFactory
from tests.portal.factories import PASSWORD, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_partner_signs_in_sees_engagements_and_signs_out(live_server, page, artifacts_dir):
    user = UserFactory(email="ava@partner.example", partner__name="Summit Cloud Partners")
    EngagementFactory(partner=user.partner, external_id="eng-acme", customer__name="Acme Robotics")
    EngagementFactory(customer__name="Someone Else's Customer")

    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Email").fill("ava@partner.example")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("not correct").is_visible()

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Summit Cloud Partners").is_visible()
    assert page.get_by_role("link", name="Acme Robotics").is_visible()
    assert page.get_by_text("Someone Else's Customer").count() == 0
    page.screenshot(path=artifacts_dir / "dashboard-desktop.png", full_page=True)

    page.get_by_role("link", name="Acme Robotics").click()
    assert page.get_by_role("heading", name="Acme Robotics").is_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=artifacts_dir / "engagement-phone.png", full_page=True)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    page.goto(f"{live_server.url}/engagements/eng-acme/")
    assert "/accounts/login/" in page.url
