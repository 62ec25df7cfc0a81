"""Numbers as people read them, for the admin, pages and PDFs: one place for the format.

`money(Decimal("10428"), "USD")` is "10,428.00 USD"; `number(Decimal("23.0000"))` is "23";
`percent(Decimal("50.0000"))` is "50 %".
"""

from decimal import Decimal

from portal.money import CURRENCY_MINOR_UNITS

NOTHING = "—"


def money(amount, currency) -> str:
    """An amount with its currency, grouped, to the currency's minor unit."""
    if amount is None:
        return NOTHING
    places = CURRENCY_MINOR_UNITS.get(currency, 2)
    return f"{Decimal(amount):,.{places}f} {currency}"


def number(value) -> str:
    """A measured value without trailing zeros: 23, 23.5, 10,000."""
    if value is None:
        return NOTHING
    value = Decimal(value).normalize()
    places = max(-value.as_tuple().exponent, 0)
    return f"{value:,.{places}f}"


def percent(value) -> str:
    """A percentage: 50 %, 12.5 %."""
    return NOTHING if value is None else f"{number(value)} %"
