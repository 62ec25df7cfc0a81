"""Money: Decimal amounts, the supported currencies and the one rounding rule.

Every amount is rounded once, half-up, to its currency's minor unit.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models

# ISO 4217 codes the program pays in, with their minor units. Amounts are stored
# with two decimal places, so currencies with three minor units are not offered.
CURRENCY_MINOR_UNITS = {
    "AUD": 2,
    "BRL": 2,
    "CAD": 2,
    "CHF": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "INR": 2,
    "JPY": 0,
    "MXN": 2,
    "NOK": 2,
    "NZD": 2,
    "SEK": 2,
    "SGD": 2,
    "USD": 2,
    "ZAR": 2,
}
CURRENCY_CHOICES = [(code, code) for code in sorted(CURRENCY_MINOR_UNITS)]
DEFAULT_CURRENCY = "USD"


def round_money(value, currency):
    """Round `value` half-up to the minor unit of `currency` (a Decimal)."""
    if isinstance(value, float):
        raise TypeError("money is never a float; build the Decimal from a string")
    try:
        places = CURRENCY_MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unsupported currency {currency!r}") from None
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


class MoneyField(models.DecimalField):
    """The project's one precision for amounts."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", settings.MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", settings.MONEY_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)


class CurrencyField(models.CharField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("choices", CURRENCY_CHOICES)
        kwargs.setdefault("default", DEFAULT_CURRENCY)
        super().__init__(*args, **kwargs)
