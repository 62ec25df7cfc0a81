from decimal import Decimal

import pytest

from portal.money import round_money


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("0.005", "USD", "0.01"),
        ("2.675", "USD", "2.68"),
        ("2.674999", "USD", "2.67"),
        ("-0.005", "USD", "-0.01"),
        ("1234.5", "JPY", "1235"),
        ("100", "EUR", "100.00"),
    ],
)
def test_round_money_is_half_up_to_the_minor_unit(value, currency, expected):
    assert round_money(Decimal(value), currency) == Decimal(expected)
    assert str(round_money(Decimal(value), currency)) == expected


def test_round_money_refuses_floats():
    with pytest.raises(TypeError):
        round_money(2.675, "USD")


def test_round_money_refuses_an_unknown_currency():
    with pytest.raises(ValueError, match="XYZ"):
        round_money(Decimal("1"), "XYZ")
