import datetime
from decimal import Decimal

import factory

from cascades.models import Customer, Engagement
from portal.models import Tier
from tests.portal.factories import PartnerFactory


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"cust-{n:05d}")
    name = factory.Sequence(lambda n: f"Customer {n:05d}")
    contact_email = factory.LazyAttribute(lambda o: f"{o.external_id}@customer.example")


class EngagementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Engagement

    external_id = factory.Sequence(lambda n: f"eng-{n:05d}")
    partner = factory.SubFactory(PartnerFactory)
    customer = factory.SubFactory(CustomerFactory)
    signed_at = datetime.date(2026, 3, 15)
    tier = Tier.AUTHORIZED
    currency = "USD"
    year1_acv = Decimal("48000.00")
