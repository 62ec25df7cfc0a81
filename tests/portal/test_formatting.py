from decimal import Decimal

import pytest

from portal.formatting import money, number, percent


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("10428.00", "USD", "10,428.00 USD"),
        ("-7830.5", "EUR", "-7,830.50 EUR"),
        ("1234", "JPY", "1,234 JPY"),
        ("0", "GBP", "0.00 GBP"),
    ],
)
def test_money_is_grouped_to_the_minor_unit_with_its_currency(amount, currency, expected):
    assert money(Decimal(amount), currency) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("23.0000", "23"), ("23.5000", "23.5"), ("10000", "10,000"), ("1E+1", "10"), ("0.25", "0.25")],
)
def test_number_drops_trailing_zeros(value, expected):
    assert number(Decimal(value)) == expected


def test_percent_is_a_number_with_a_percent_sign():
    assert (percent(Decimal("50.0000")), percent(Decimal("12.5"))) == ("50 %", "12.5 %")


def test_nothing_shows_as_a_dash():
    assert money(None, "USD") == number(None) == percent(None) == "—"
