import datetime
import re
import time
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone

from cascades.models import Customer, Engagement
from portal.models import Partner, Tier, User

pytestmark = pytest.mark.django_db

AS_OF = "2026-11-25"
VOLATILE = {"password", "last_login"}


def snapshot():
    """Every row of the project's models (and allauth's addresses), as plain values."""
    rows = {}
    labels = ["portal", "cascades", "attestations", "payouts", "account", "auth"]
    for model in apps.get_models():
        if model._meta.app_label in labels:
            fields = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE]
            rows[model._meta.label] = sorted(model.objects.values_list(*fields), key=repr)
    rows["groups"] = sorted(User.groups.through.objects.values_list("user_id", "group_id"))
    return rows


def seed(as_of=AS_OF):
    out = StringIO()
    call_command("seed_demo", f"--as-of={as_of}", "--not-a-demo-site", "--skip-pdfs", stdout=out)
    return out.getvalue()


def test_seed_demo_twice_gives_the_same_data():
    seed()
    first = snapshot()
    seed()
    assert snapshot() == first


def test_seed_demo_builds_one_partner_per_tier_and_forty_engagements_over_30_months():
    output = seed()
    as_of = datetime.date(2026, 11, 25)
    partners = Partner.objects.filter(external_id__startswith="demo-")
    assert sorted(p.tier_on(as_of) for p in partners) == sorted(Tier.values)
    assert Customer.objects.count() == 40
    engagements = Engagement.objects.all()
    assert engagements.count() == 40
    assert min(e.signed_at for e in engagements) >= datetime.date(2024, 5, 25)
    assert max(e.signed_at for e in engagements) < as_of
    assert "gold.admin@demo.example" in output
    assert "staff@demo.example" in output


def test_demo_gold_partner_changed_tier_and_its_engagements_follow_the_history():
    seed()
    gold = Partner.objects.get(external_id="demo-gold")
    assert gold.tier_on(datetime.date(2025, 11, 24)) == Tier.SILVER
    assert gold.tier_on(datetime.date(2025, 11, 25)) == Tier.GOLD
    for engagement in gold.engagements.all():
        assert engagement.tier == gold.tier_on(engagement.signed_at)
    assert set(gold.engagements.values_list("tier", flat=True)) == {"silver", "gold"}


def test_demo_users_can_sign_in(client):
    seed()
    response = client.post(
        "/accounts/login/", {"login": "gold.admin@demo.example", "password": "cascade-demo"}
    )
    assert response.status_code == 302
    staff = User.objects.get(email="finance@demo.example")
    assert staff.is_staff and list(staff.groups.values_list("name", flat=True)) == ["Finance"]


def test_seed_demo_refuses_a_bad_date_and_writes_nothing():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        seed("25/11/2026")
    assert Partner.objects.count() == 0


def test_demo_seeds_signals_and_evaluates_them():
    from cascades.models import Clawback, Reward

    seed()
    assert Reward.objects.filter(step_kind="signup").count() == 40
    assert set(Reward.objects.values_list("step_kind", flat=True)) >= {
        "signup", "tenure", "adoption", "coverage", "retention", "expansion", "sentiment",
    }  # fmt: skip
    assert Clawback.objects.count() >= 2


def test_seed_demo_keeps_its_date_and_refuses_another(capsys):
    seed()
    out = StringIO()
    call_command("seed_demo", "--not-a-demo-site", "--skip-pdfs", stdout=out)  # keeps its date
    assert "as of 2026-11-25" in out.getvalue()
    with pytest.raises(CommandError, match="seeded as of 2026-11-25"):
        seed("2026-12-01")


def test_seed_demo_refuses_to_run_on_a_production_site():
    with pytest.raises(CommandError, match="DEBUG=1 only"):
        call_command("seed_demo", f"--as-of={AS_OF}", stdout=StringIO())
    assert User.objects.count() == 0


def test_demo_has_paid_and_draft_payout_runs_with_issued_pdfs():
    from payouts.models import PayoutRun, Statement
    from payouts.reconciliation import reconcile

    call_command("seed_demo", f"--as-of={AS_OF}", "--not-a-demo-site", stdout=StringIO())

    runs = PayoutRun.objects.order_by("period__month")
    assert [(f"{r.period.month:%Y-%m}", r.status) for r in runs] == [
        ("2026-08", "paid"),
        ("2026-09", "paid"),
        ("2026-10", "draft"),
    ]
    assert not Statement.objects.filter(pdf_sha256="").exists()
    assert reconcile() == []


def test_demo_has_a_signed_agreement_an_accepted_outcome_and_a_link_to_open():
    from attestations.models import Attestation, Decision
    from cascades.models import Reward

    output = seed()

    assert Attestation.objects.filter(outcome__isnull=True).count() == 3
    decision = Decision.objects.get()
    assert decision.verdict == "accepted"
    assert Reward.objects.filter(step_key="outcome").count() == 1
    # Kestrel Aviation's outcome (12 % of 158,000.00 = 18,960.00) needs verification: its
    # attestation, with a CSV export as evidence, waits for review; 30 days are left.
    waiting = Attestation.objects.get(outcome__isnull=False, decision__isnull=True)
    assert waiting.agreement.engagement.customer.name == "Kestrel Aviation"
    assert waiting.outcome.verification_required
    assert waiting.outcome.window_closes_on == datetime.date(2026, 12, 24)
    with waiting.evidence_file.open("rb") as evidence:
        assert evidence.read().startswith(b"month,tickets,seats")
    assert "A customer's link to sign its agreement (no account needed, not used yet):\n" in output


def test_demo_prints_one_customer_link_and_it_is_unused():
    from attestations.services import signing_request_for

    output = seed()

    links = re.findall(r"http://127\.0\.0\.1:8000/attest/([^/\s]+)/", output)
    assert len(links) == 1
    request = signing_request_for(links[0])  # neither used, revoked nor expired
    assert request.purpose == "agreement"
    assert request.agreement.engagement.external_id == "demo-eng-01"


def test_demo_signatures_are_never_dated_in_the_future():
    from attestations.models import Attestation, Decision

    # The morning of the as-of date: noon, when the demo's customers used to sign, is ahead.
    with time_machine.travel(datetime.datetime(2026, 11, 25, 9, 30, tzinfo=datetime.UTC)):
        seed()
        now = timezone.now()

    signed = sorted(Attestation.objects.values_list("signed_at", flat=True))
    assert len(signed) == 5  # three agreements and two outcomes
    assert signed[-1] <= now
    assert {timezone.localdate(at) for at in signed} == {datetime.date(2026, 11, 25)}
    assert Decision.objects.get().decided_on == datetime.date(2026, 11, 25)


def test_the_demo_ops_token_is_random_shown_once_and_works(client):
    from portal.models import OpsToken
    from portal.tokens import hash_token

    first = seed()
    token = re.search(r"Ops API token \(README walk-through, shown once\): (ops_\S+)", first)[1]
    again = seed()

    assert len(token) == len("ops_") + 43  # 32 random bytes, URL-safe
    assert OpsToken.objects.get(name="demo").key_hash == hash_token(token)
    assert token not in again and "shown when the demo was first seeded" in again
    response = client.get(
        "/api/v1/ops/engagements/demo-eng-01/", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200


def test_demo_staff_have_two_factor_and_the_code_command_prints_theirs(settings):
    from allauth.mfa.models import Authenticator

    from portal.demo_mfa import DEMO_TOTP_SECRET, totp_code

    settings.DEBUG = True  # a demo site: the published secret is allowed
    output = seed()
    out = StringIO()
    call_command("demo_totp_code", "risk@demo.example", stdout=out)

    staff = Authenticator.objects.filter(type="totp", user__email__endswith="@demo.example")
    assert staff.count() == 4  # staff, ops, finance, risk; partners need none
    assert out.getvalue().strip() in {totp_code(DEMO_TOTP_SECRET, at=time.time() + s)
                                      for s in (-30, 0)}  # fmt: skip
    assert "`make demo-code EMAIL=...`" in output
