import datetime

import factory
from allauth.account.models import EmailAddress

from portal.models import Partner, Tier, TierChange, User

PASSWORD = "a-long-test-password"


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
    email = factory.Sequence(lambda n: f"staff{n:04d}@program.example")
    partner = None
    partner_role = ""
    is_staff = True
