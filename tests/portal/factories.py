import datetime
import time

import factory
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import TOTP

from portal import demo_mfa
from portal.models import Partner, Tier, TierChange, User

PASSWORD = "a-long-test-password"
# Every staff user the factory makes has this TOTP secret (base32); `totp_code()` gives its
# current code, for the tests that sign in through allauth's two-factor step.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def totp_code(secret=TOTP_SECRET):
    """The code an authenticator app shows for `secret` now, with a few seconds left before
    it changes: allauth refuses a code whose 30 seconds have passed (no drift allowed)."""
    left = mfa_settings.TOTP_PERIOD - time.time() % mfa_settings.TOTP_PERIOD
    if left < 5:
        time.sleep(left)
    return demo_mfa.totp_code(secret)


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        skip_postgeneration_save = True

    external_id = factory.Sequence(lambda n: f"partner-{n:04d}")
    name = factory.Sequence(lambda n: f"Partner {n:04d}")
    tier = factory.RelatedFactory(
        "tests.portal.factories.TierChangeFactory",
        factory_related_name="partner",
        tier=Tier.AUTHORIZED,
        effective=datetime.date(2020, 1, 1),
    )


class TierChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TierChange

    partner = factory.SubFactory(PartnerFactory, tier=None)
    tier = Tier.SILVER
    effective = datetime.date(2024, 1, 1)


class UserFactory(factory.django.DjangoModelFactory):
    """A partner user with a verified email who can sign in with PASSWORD."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n:04d}@partner.example")
    full_name = factory.Faker("name")
    partner = factory.SubFactory(PartnerFactory)
    partner_role = User.PartnerRole.MEMBER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(obj, create, extracted, **kwargs):
        if create:
            obj.save()
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)


class StaffUserFactory(UserFactory):
    """A staff user with two-factor authentication set up (TOTP_SECRET), as every staff
    user needs it to use the admin; `StaffUserFactory(mfa=False)` for one without."""

    email = factory.Sequence(lambda n: f"staff{n:04d}@program.example")
    partner = None
    partner_role = ""
    is_staff = True

    @factory.post_generation
    def mfa(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            TOTP.activate(obj, TOTP_SECRET)
