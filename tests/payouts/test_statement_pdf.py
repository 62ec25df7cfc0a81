import datetime
import logging
import re
import socket
import statistics
import subprocess
import time
from decimal import Decimal

import pytest
from weasyprint import HTML

from cascades.models import Clawback, Reward
from payouts.models import LedgerEntry, PayoutRun, Statement, StatementLine, StatementPeriod
from payouts.pdf import statement_context, statement_pdf_bytes
from portal.pdf import STATIC_BASE_URL, StaticOnlyURLFetcher, static_only_url_fetcher
from tests.cascades.factories import CustomerFactory, EngagementFactory
from tests.portal.factories import PartnerFactory

pytestmark = pytest.mark.django_db

MONTH = datetime.date(2026, 11, 1)
EXPOSURE = [
    {
        "customer": "Northwind Traders",
        "step_key": "signup",
        "trigger_date": "2026-11-03",
        "amount": "2400.00",
        "window_closes": "2027-02-01",
    }
]


def _entry(statement_entries, **fields):
    entry = LedgerEntry.objects.create(currency="USD", **fields)
    statement_entries.append(entry)
    return entry


def make_statement(*, extra_customers=0, opening=Decimal("120.00"), exposure=EXPOSURE):
    """A November 2026 statement built by hand, its figures the sum of its entries.

    `extra_customers` adds customers with one standard commission and three cascade
    rewards each (four detail rows apiece). Amounts are whole quarters: SQLite checks
    `statement_lines_add_up` in floating point, where 0.56-style cents may not add up."""
    period = StatementPeriod.objects.create(month=MONTH, status=StatementPeriod.Status.CLOSED)
    run = PayoutRun.objects.create(period=period)
    partner = PartnerFactory(name="Harbor & Finch Consulting", external_id="HF-0042")
    entries = []

    def engagement(customer_name):
        return EngagementFactory(
            partner=partner, customer=CustomerFactory(name=customer_name), tier="gold"
        )

    northwind = engagement("Northwind Traders")
    _entry(entries, partner=partner, engagement=northwind, kind="standard_commission",
           amount=Decimal("12480.00"), effective_date=datetime.date(2026, 11, 3))  # fmt: skip
    signup = Reward.objects.create(
        engagement=northwind, step_key="signup", step_kind="signup",
        trigger_date=datetime.date(2026, 11, 3), amount=Decimal("2400.00"), currency="USD",
    )  # fmt: skip
    _entry(entries, partner=partner, engagement=northwind, reward=signup, kind="cascade_reward",
           amount=signup.amount, effective_date=signup.trigger_date)  # fmt: skip

    contoso = engagement("Contoso Ltd")
    active = Reward.objects.create(
        engagement=contoso, step_key="active_2m", step_kind="tenure",
        trigger_date=datetime.date(2026, 11, 20), amount=Decimal("1234.75"), currency="USD",
    )  # fmt: skip
    _entry(entries, partner=partner, engagement=contoso, reward=active, kind="cascade_reward",
           amount=active.amount, effective_date=active.trigger_date)  # fmt: skip

    # A reward paid on an earlier statement, clawed back this month.
    fabrikam = engagement("Fabrikam Inc")
    earlier = Reward.objects.create(
        engagement=fabrikam, step_key="signup", step_kind="signup",
        trigger_date=datetime.date(2026, 9, 10), amount=Decimal("600.00"), currency="USD",
    )  # fmt: skip
    clawback = Clawback.objects.create(
        reward=earlier, kind="clawback", cause_date=datetime.date(2026, 11, 12),
        percent=Decimal("100"), window_days=90, amount=Decimal("600.00"),
    )  # fmt: skip
    _entry(entries, partner=partner, engagement=fabrikam, reward=earlier, clawback=clawback,
           kind="clawback", amount=Decimal("-600.00"),
           effective_date=clawback.cause_date)  # fmt: skip
    _entry(entries, partner=partner, kind="adjustment", amount=Decimal("25.00"),
           effective_date=datetime.date(2026, 11, 28),
           reason="Rounding correction")  # fmt: skip

    for n in range(extra_customers):
        other = engagement(f"Customer {n:03d}")
        _entry(entries, partner=partner, engagement=other, kind="standard_commission",
               amount=Decimal("4800.00"), effective_date=datetime.date(2026, 11, 2))  # fmt: skip
        for day, step in ((5, "signup"), (12, "active_2m"), (19, "adoption_4m")):
            reward = Reward.objects.create(
                engagement=other, step_key=step, step_kind="tenure",
                trigger_date=datetime.date(2026, 11, day), amount=Decimal("300.00"),
                currency="USD",
            )  # fmt: skip
            _entry(entries, partner=partner, engagement=other, reward=reward,
                   kind="cascade_reward", amount=reward.amount,
                   effective_date=reward.trigger_date)  # fmt: skip

    def total(kind):
        return sum((e.amount for e in entries if e.kind == kind), Decimal("0.00"))

    figures = {
        "opening_balance": opening,
        "standard_earnings": total("standard_commission"),
        "cascade_earnings": total("cascade_reward"),
        "clawbacks": total("clawback"),
        "adjustments": total("adjustment"),
    }
    balance = sum(figures.values(), Decimal("0.00"))
    payable = balance if balance >= Decimal("50.00") else Decimal("0.00")
    statement = Statement.objects.create(
        run=run, partner=partner, currency="USD", tier="gold", **figures, payable=payable,
        closing_balance=balance - payable, issue_date=datetime.date(2026, 12, 1),
        due_date=datetime.date(2026, 12, 31), clawback_exposure=exposure,
    )  # fmt: skip
    StatementLine.objects.bulk_create(StatementLine(statement=statement, entry=e) for e in entries)
    Statement.objects.filter(pk=statement.pk).update(sealed=True)  # as a run seals it
    statement.sealed = True
    return statement


def pdf_text(path, *, first=None, last=None):
    pages = [] if first is None else ["-f", str(first), "-l", str(last or first)]
    command = ["pdftotext", "-layout", *pages, str(path), "-"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def pdf_pages(path):
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE)[1])


def line_with(text, label, amount):
    """Whether a line of `text` has `label` followed by exactly `amount`."""
    return re.search(rf"^\s*{re.escape(label)}\s+{re.escape(amount)}\s*$", text, re.MULTILINE)


@pytest.fixture
def statement():
    return make_statement()


@pytest.fixture
def pdf_path(statement, tmp_path):
    path = tmp_path / "statement.pdf"
    path.write_bytes(statement_pdf_bytes(statement))
    return path


def test_the_statement_shows_its_figures_dates_and_exposure(statement, pdf_path):
    # 120.00 opening + 12,480.00 + 3,634.75 − 600.00 + 25.00 = 15,659.75, all paid.
    assert statement.cascade_earnings == Decimal("3634.75")
    assert statement.payable == Decimal("15659.75")
    text = pdf_text(pdf_path)

    assert "Cascade rewards partner program" in text
    assert "Harbor & Finch Consulting" in text
    assert "HF-0042" in text
    assert "November 2026" in text
    assert "Gold" in text
    assert line_with(text, "Opening balance carried forward", "120.00")
    assert line_with(text, "Standard deal earnings", "12,480.00")
    assert line_with(text, "Cascade earnings", "3,634.75")
    assert line_with(text, "Clawbacks", "-600.00")
    assert line_with(text, "Adjustments", "25.00")
    assert line_with(text, "Payable", "15,659.75")
    assert line_with(text, "Closing balance carried forward", "0.00")
    assert "Due date" in text
    assert "31 December 2026" in text
    assert "1 December 2026" in text
    assert re.search(rf"Statement no\.\s+{statement.pk}\b", text)
    # The detail rows, sorted by customer then date.
    assert text.index("Contoso Ltd") < text.index("Fabrikam Inc") < text.index("Northwind")
    assert re.search(r"Clawback of signup\s+Clawback\s+12 November 2026\s+-600\.00", text)
    assert "Rounding correction" in text
    # The exposure row with the date its window closes.
    exposure = text[text.index("Clawback exposure") :]
    assert re.search(r"Northwind Traders\s+signup\s+3 November 2026\s+1 February 2027\s+2,400\.00",
                     exposure)  # fmt: skip
    assert "Page 1 of 1" in text


def test_page_one_is_saved_as_a_png(pdf_path, artifacts_dir):
    target = artifacts_dir / "statement-page1.png"
    target.unlink(missing_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf_path),
         str(target.with_suffix(""))],
        check=True,
    )  # fmt: skip
    assert target.exists()
    assert target.read_bytes().startswith(b"\x89PNG")


def test_a_balance_under_the_minimum_carries_forward(tmp_path):
    statement = make_statement(opening=Decimal("-15510.00"), exposure=[])
    assert statement.payable == 0 and statement.closing_balance == Decimal("29.75")
    path = tmp_path / "carried.pdf"
    path.write_bytes(statement_pdf_bytes(statement))
    text = " ".join(pdf_text(path).split())

    assert "Payable 0.00" in text
    assert "Closing balance carried forward 29.75" in text
    assert "under the minimum payout of 50.00 USD, so it carries forward" in text
    assert "No reward is inside its clawback window at the end of November 2026." in text


def test_a_negative_balance_carries_forward():
    statement = make_statement(opening=Decimal("-20000.00"), exposure=[])
    context = statement_context(statement)
    assert context["closing_balance"] == "-4,460.25"
    assert "is at or below zero, so it carries forward" in context["carry_forward_reason"]


def test_a_long_statement_repeats_the_table_header_on_the_next_page(tmp_path):
    statement = make_statement(extra_customers=19)  # 5 + 19 × 4 = 81 detail rows
    assert statement.lines.count() == 81
    path = tmp_path / "long.pdf"
    path.write_bytes(statement_pdf_bytes(statement))

    pages = pdf_pages(path)
    assert pages >= 2
    page_two = pdf_text(path, first=2)
    assert re.search(r"CUSTOMER\s+MILESTONE\s+ENTRY\s+EFFECTIVE DATE\s+AMOUNT \(USD\)", page_two)
    assert f"Page 2 of {pages}" in page_two
    assert "Harbor & Finch Consulting · Earnings statement November 2026" in page_two


@pytest.mark.parametrize("extra_customers, rows", [(0, 5), (19, 81)])
def test_the_context_takes_one_query_however_many_rows(
    extra_customers, rows, django_assert_num_queries
):
    statement = make_statement(extra_customers=extra_customers)
    statement = Statement.objects.select_related("run__period", "partner").get(pk=statement.pk)
    with django_assert_num_queries(1):  # the run, period and partner came with the statement
        context = statement_context(statement)
    assert len(context["details"]) == rows


def test_the_fetcher_serves_static_files_only():
    for url in (
        "https://example.com/x.css",
        "http://example.com/x.css",
        "file:///etc/passwd",
        "ftp://example.com/x.css",
        "/static/../portal/settings.py",
        "/static/%2e%2e/portal/settings.py",
        "../portal/settings.py",
        "/static/css/no-such-file.css",
        "/etc/passwd",
    ):
        with pytest.raises(ValueError):
            static_only_url_fetcher(url)

    for url in (
        "/static/css/portal.css",
        "css/portal.css",
        STATIC_BASE_URL + "css/portal.css",
    ):
        response = static_only_url_fetcher(url)
        assert response.content_type == "text/css"
        assert b".num" in response.read()

    inline = static_only_url_fetcher("data:text/css,p%7Bcolor:red%7D")
    assert inline.read() == b"p{color:red}"


def test_a_remote_image_is_never_fetched(monkeypatch, caplog):
    connections = []

    def no_network(*args, **kwargs):
        connections.append(args)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    html = (
        '<link rel="stylesheet" href="https://example.com/evil.css">'
        '<img src="https://example.com/a.png"><img src="file:///etc/passwd">'
        "<p>Still rendered</p>"
    )
    with caplog.at_level(logging.ERROR, logger="weasyprint"):
        document = HTML(string=html, base_url=STATIC_BASE_URL, url_fetcher=StaticOnlyURLFetcher())
        data = document.write_pdf()

    assert data.startswith(b"%PDF")
    assert connections == []
    refused = [r.getMessage() for r in caplog.records if r.name == "weasyprint"]
    assert any("https://example.com/a.png" in m and "ValueError" in m for m in refused)
    assert any("https://example.com/evil.css" in m for m in refused)
    assert any("file:///etc/passwd" in m for m in refused)


def test_a_resource_the_statement_cannot_load_stops_the_rendering(statement, monkeypatch):
    monkeypatch.setattr("portal.pdf.finders.find", lambda path: None)
    with pytest.raises(RuntimeError, match="statement_pdf.css"):
        statement_pdf_bytes(statement)


def test_render_time_of_a_two_page_statement(tmp_path):
    statement = make_statement(extra_customers=8)  # 37 detail rows: two pages
    statement = Statement.objects.select_related("run__period", "partner").get(pk=statement.pk)
    path = tmp_path / "two.pdf"
    path.write_bytes(statement_pdf_bytes(statement))
    assert pdf_pages(path) == 2
    timings = []
    for _ in range(7):
        start = time.perf_counter()
        statement_pdf_bytes(statement)
        timings.append(time.perf_counter() - start)
    print(
        f"\nstatement PDF, 2 pages, {statement.lines.count()} rows: median "
        f"{statistics.median(timings):.3f} s, min {min(timings):.3f} s over {len(timings)}"
    )
