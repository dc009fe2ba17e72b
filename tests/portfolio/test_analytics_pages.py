"""The portfolio page's dividends, risk figures, return split and realised gains (session login, CSRF).

The dividends are the ones of tests/portfolio/test_dividends_api.py: AAPL, 10 bought before the
4:1 split of 2020-08-31; 0.82 a share on 2020-08-07 (10 shares) and 0.205 on 2020-11-06 (40).
A buy also has the demo market's own dividends fetched, so only the ex-dates stored here count.
"""
from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.market import corporate
from app.market.service import utc_today
from app.market.types import DividendEvent
from app.portfolio import services
from tests.conftest import csrf_token
from tests.portfolio.helpers import ok_txn, transactions

D = Decimal
DIVIDENDS = "/api/v1/portfolio/dividends"
OURS = {"2020-08-07", "2020-11-06"}


def _store(app, splits=(), dividends=()) -> None:
    with app.app_context():
        corporate.store_events(splits)
        corporate.store_dividends(dividends)


def _inbox(client, headers) -> list[dict]:
    return [p for p in client.get(DIVIDENDS, headers=headers).get_json()["inbox"] if p["ex_date"] in OURS]


def _section(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    end = page.find("</article>", start)
    return page[start:end if end > 0 else None]


def _table(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return page[start:page.index("</table>", start)]


def _flashes(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", html.unescape(m)).strip()
            for m in re.findall(r'<article class="flash flash-\w+" role="status">(.*?)</article>', page, re.S)]


def _money(value: str | None) -> str:
    return "–" if value is None else "{:,.2f}".format(D(value))


def _field(section: str, name: str) -> str:
    match = re.search(rf'data-field="{name}">([^<]*)<', section)
    assert match, name
    return html.unescape(match.group(1)).strip()


def _part(cell: str, name: str) -> str:
    match = re.search(rf'data-part="{name}">([^<]*)<', cell)
    assert match, name
    return html.unescape(match.group(1))


@pytest.fixture
def token(client, page_user) -> str:
    return csrf_token(client, "/account")


@pytest.fixture
def aapl(app, client, page_user):
    h = page_user["headers"]
    # Compared with the Dow Jones (30 stocks): the USD default, the S&P 500, would have every page load
    # of these tests fill 500 stocks' bars since 2020 (10 s each), and no test here reads the benchmark.
    assert client.patch("/api/v1/me", json={"base_currency": "USD", "benchmark": "Dow Jones"},
                        headers=h).status_code == 200
    _store(app, [("AAPL", date(2020, 8, 31), 1, 4, "yahoo")],
           [DividendEvent("AAPL", date(2020, 8, 7), 0.205, "USD", "yahoo", date(2020, 8, 13), adjusted=True),
            DividendEvent("AAPL", date(2020, 11, 6), 0.205, "USD", "yahoo", date(2020, 11, 12), adjusted=True)])
    ok_txn(client, h, "buy", "AAPL", "10", "500", "2020-08-03")
    return h


def _proposal_row(page: str, ex_date: str) -> str | None:
    match = re.search(rf'<tr data-proposal="AAPL-{ex_date}">.*?</tr>', page, re.S)
    return match.group(0) if match else None


def _dividend_rows(client, headers) -> list[dict]:
    return [t for t in transactions(client, headers) if t["kind"] == "dividend"]


# -- the inbox ----------------------------------------------------------------------------

def test_accept_books_exactly_the_proposed_dividend(client, aapl, token) -> None:
    proposed = {p["ex_date"]: p for p in _inbox(client, aapl)}
    page = client.get("/portfolio").get_data(as_text=True)
    row = _proposal_row(page, "2020-08-07")
    assert row is not None
    cells = [html.unescape(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[:7]]
    assert cells[1:] == ["2020-08-07", "2020-08-13", "10", "0.82", "8.20", "USD"]
    assert "AAPL" in cells[0]
    assert 'action="/portfolio/dividends/accept"' in row and 'action="/portfolio/dividends/dismiss"' in row
    total = client.get(DIVIDENDS, headers=aapl).get_json()["inbox_total"]  # ours and the demo market's
    assert f"{total} dividends waiting in your inbox" in page and 'href="#dividends"' in page
    before = len(transactions(client, aapl))
    response = client.post("/portfolio/dividends/accept", data={"csrf_token": token, "symbol": "AAPL",
                                                                "ex_date": "2020-08-07"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/portfolio#dividends")
    page = client.get("/portfolio").get_data(as_text=True)
    assert "Dividend of AAPL booked: 10 shares × 0.82 USD on 2020-08-13." in _flashes(page)
    assert len(transactions(client, aapl)) == before + 1
    [booked] = _dividend_rows(client, aapl)
    p = proposed["2020-08-07"]
    assert (booked["symbol"], booked["quantity"], booked["price"], booked["date"], booked["currency"]) == (
        p["symbol"], p["quantity"], p["amount_per_share"], p["pay_date"], p["currency"])
    assert D(booked["fee"] or 0) == 0
    assert [i["ex_date"] for i in _inbox(client, aapl)] == ["2020-11-06"]
    assert _proposal_row(page, "2020-08-07") is None and _proposal_row(page, "2020-11-06") is not None


def test_an_edited_accept_books_the_edited_values(client, aapl, token) -> None:
    response = client.post("/portfolio/dividends/accept", data={
        "csrf_token": token, "symbol": "AAPL", "ex_date": "2020-11-06", "quantity": "40",
        "amount_per_share": "0.20", "date": "2020-11-13", "fee": "1.23"})
    assert response.status_code == 302
    [booked] = _dividend_rows(client, aapl)
    assert (booked["quantity"], D(booked["price"]), booked["date"], D(booked["fee"])) == (
        "40", D("0.2"), "2020-11-13", D("1.23"))
    assert [i["ex_date"] for i in _inbox(client, aapl)] == ["2020-08-07"]
    held = client.get("/api/v1/portfolio", headers=aapl).get_json()["holdings"][0]
    assert D(held["dividends_base"]) == D("8.00")
    # The edit form of the other proposal is prefilled with what is proposed.
    page = client.get("/portfolio").get_data(as_text=True)
    [form] = [f for f in re.findall(r'<form[^>]*data-testid="dividend-edit-form">.*?</form>', page, re.S)
              if 'name="ex_date" value="2020-08-07"' in f]
    assert 'name="symbol" value="AAPL"' in form
    for name, value in (("quantity", "10"), ("amount_per_share", "0.82"), ("date", "2020-08-13"), ("fee", "0")):
        assert re.search(rf'name="{name}" value="{re.escape(value)}"', form), name


def test_dismiss_removes_the_proposal_for_good(client, aapl, token) -> None:
    response = client.post("/portfolio/dividends/dismiss", data={"csrf_token": token, "symbol": "aapl",
                                                                 "ex_date": "2020-08-07"}, follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert any("dismissed" in m for m in _flashes(page))
    assert _proposal_row(page, "2020-08-07") is None
    assert [i["ex_date"] for i in _inbox(client, aapl)] == ["2020-11-06"]
    assert _dividend_rows(client, aapl) == []
    ok_txn(client, aapl, "buy", "AAPL", "1", "120", "2020-09-01")  # the ledger changes: still gone
    assert [i["ex_date"] for i in _inbox(client, aapl)] == ["2020-11-06"]
    again = client.post("/portfolio/dividends/dismiss", data={"csrf_token": token, "symbol": "AAPL",
                                                              "ex_date": "2020-08-07"}, follow_redirects=True)
    assert any("No open dividend proposal for AAPL" in m for m in _flashes(again.get_data(as_text=True)))
    accept = client.post("/portfolio/dividends/accept", data={"csrf_token": token, "symbol": "AAPL",
                                                              "ex_date": "2020-08-07"}, follow_redirects=True)
    assert accept.status_code == 200
    assert any("No open dividend proposal" in m for m in _flashes(accept.get_data(as_text=True)))
    assert _dividend_rows(client, aapl) == []


@pytest.mark.parametrize("edits, message", [
    ({"amount_per_share": "abc"}, "Per share: Enter a number."),
    ({"quantity": "0"}, "Shares: Must be greater than 0."),
    ({"quantity": "-3"}, "Shares: Must be greater than 0."),
    ({"fee": "-1"}, "Fee: Must not be negative."),
    ({"fee": "1e999999"}, "Fee: At most 15 digits"),
    ({"date": "2020-13-45"}, "Date: Enter a date as YYYY-MM-DD."),
    ({"date": "2999-01-01"}, "Date: Must not be in the future."),
    ({"ex_date": "someday"}, "That is not a dividend proposal of the inbox"),
    ({"symbol": ""}, "That is not a dividend proposal of the inbox"),
    ({"symbol": "NOPE.XX"}, "Unknown symbol"),
])
def test_bad_input_shows_the_message_and_books_nothing(client, aapl, token, edits, message) -> None:
    before = transactions(client, aapl)
    inbox = _inbox(client, aapl)
    form = {"csrf_token": token, "symbol": "AAPL", "ex_date": "2020-08-07", **edits}
    response = client.post("/portfolio/dividends/accept", data=form, follow_redirects=True)
    assert response.status_code == 200
    flashes = _flashes(response.get_data(as_text=True))
    assert any(message in m for m in flashes), flashes
    assert transactions(client, aapl) == before
    assert _inbox(client, aapl) == inbox


def test_the_forms_need_the_csrf_token(client, aapl) -> None:
    for path in ("/portfolio/dividends/accept", "/portfolio/dividends/dismiss"):
        assert client.post(path, data={"symbol": "AAPL", "ex_date": "2020-08-07"}).status_code == 400
    assert len(_inbox(client, aapl)) == 2


def test_an_empty_inbox_says_so_and_a_long_one_says_how_many_more(client, aapl, monkeypatch) -> None:
    assert "No dividends are waiting to be booked." not in client.get("/portfolio").get_data(as_text=True)
    total = client.get(DIVIDENDS, headers=aapl).get_json()["inbox_total"]
    monkeypatch.setattr(services, "DIVIDEND_INBOX_MAX", 1)
    page = client.get("/portfolio").get_data(as_text=True)
    assert len(re.findall(r'<tr data-proposal="', page)) == 1
    more = re.sub(r"\s+", " ", _section(page, "dividend-more"))
    assert f"{total - 1} more" in more


def test_a_new_portfolio_has_nothing_waiting(client, page_user) -> None:
    page = client.get("/portfolio").get_data(as_text=True)
    inbox = _section(page, "dividend-inbox")
    assert "No dividends are waiting to be booked." in inbox and "<form" not in inbox
    assert "dividend-notice" not in page


# -- the calendar ---------------------------------------------------------------------------

def test_the_calendar_shows_upcoming_received_and_yield_on_cost(app, client, page_user) -> None:
    h, today = page_user["headers"], utc_today()
    ok_txn(client, h, "buy", "SAP.DE", "10", "100", (today - timedelta(days=200)).isoformat())
    ok_txn(client, h, "dividend", "SAP.DE", "1", "25", (today - timedelta(days=100)).isoformat())
    ex, pay = today + timedelta(days=10), today + timedelta(days=13)
    _store(app, dividends=[DividendEvent("SAP.DE", ex, 2.0, "EUR", "demo", pay)])
    api = client.get(DIVIDENDS, headers=h).get_json()
    page = client.get("/portfolio").get_data(as_text=True)
    upcoming = _table(page, "dividends-upcoming")
    ours = [u for u in api["upcoming"] if u["ex_date"] == ex.isoformat()]
    assert ours and (ours[0]["quantity"], ours[0]["amount"]) == ("10", "20.00")
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td class=\"num\">([^<]*)</td>\s*"
                      r"<td class=\"num\">([^<]*) <small>(\w+)</small>", upcoming)
    assert (ex.isoformat(), pay.isoformat(), "SAP.DE", "10", "20.00", "EUR") in rows
    assert len(rows) == len(api["upcoming"])
    received = _table(page, "dividends-received")
    assert (today - timedelta(days=100)).isoformat() in received and "25.00" in received
    yields = _table(page, "yield-on-cost")
    sap = re.search(r'<tr data-symbol="SAP.DE">.*?</tr>', yields, re.S).group(0)
    assert _field(sap, "yield") == "{:.2f} %".format(api["yield_on_cost"][0]["yield_on_cost"] * 100) == "2.50 %"
    total = re.search(r'<tr data-symbol="total">.*?</tr>', yields, re.S).group(0)
    assert _field(total, "yield") == "{:.2f} %".format(api["total"]["yield_on_cost"] * 100)
    assert _money(api["total"]["trailing_12m_base"]) in total and _money(api["total"]["cost_basis_base"]) in total


# -- risk, the return split, realised gains --------------------------------------------------

@pytest.fixture
def ledger(client, page_user):
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2023-01-02")
    ok_txn(client, h, "buy", "SAP.DE", 10, 130, "2023-02-01")
    ok_txn(client, h, "sell", "SAP.DE", 10, 150, "2023-03-01", fee=5)
    ok_txn(client, h, "sell", "SAP.DE", 5, 90, "2024-04-02")
    ok_txn(client, h, "buy", "AAPL", 3, 150, "2024-01-02")
    ok_txn(client, h, "dividend", "SAP.DE", 1, "12.5", "2024-05-02", fee="1.5")
    return h


def test_the_risk_figures_are_the_apis(client, ledger) -> None:
    assert client.patch("/api/v1/me", json={"risk_free_rate": "0.025"}, headers=ledger).status_code == 200
    for range_name in ("max", "1y"):
        api = client.get(f"/api/v1/portfolio/performance?range={range_name}", headers=ledger).get_json()
        assert api["status"] == "ready"
        risk, dd = api["risk"], api["risk"]["max_drawdown"]
        page = client.get(f"/portfolio?range={range_name}").get_data(as_text=True)
        section = _table(page, "risk")
        assert f"Risk over {range_name.upper()}" in section
        assert _field(section, "max-drawdown") == "{:.2f} %".format(dd["depth"] * 100)
        assert _field(section, "volatility") == "{:.2f} %".format(risk["volatility"] * 100)
        assert _field(section, "sharpe") == "{:.2f}".format(risk["sharpe"])
        assert _field(section, "risk-free-rate") == "2.50 %"
        assert 'href="/account#settings"' in section
        if dd["peak"]:
            assert _field(section, "drawdown-peak") == dd["peak"]
            assert _field(section, "drawdown-trough") == dd["trough"]
            assert _field(section, "drawdown-recovered") == (dd["recovered"] or "not recovered")
            assert _field(section, "drawdown-days") == str(dd["duration_days"])
    assert api["risk"]["max_drawdown"]["depth"] < 0  # the figures checked are not all empty


def test_missing_risk_figures_show_a_dash(client, page_user) -> None:
    ok_txn(client, page_user["headers"], "buy", "SAP.DE", 1, 100, utc_today().isoformat())  # no day return yet
    api = client.get("/api/v1/portfolio/performance?range=1m", headers=page_user["headers"]).get_json()
    assert api["risk"]["volatility"] is None and api["risk"]["sharpe"] is None
    section = _table(client.get("/portfolio?range=1m").get_data(as_text=True), "risk")
    assert _field(section, "volatility") == "–" and _field(section, "sharpe") == "–"
    assert _field(section, "risk-free-rate") == "0.00 %"


def test_the_return_split_is_the_apis(client, ledger) -> None:
    api = client.get("/api/v1/portfolio", headers=ledger).get_json()
    page = client.get("/portfolio").get_data(as_text=True)
    line = page[page.index('data-testid="return-breakdown"'):]
    line = line[:line.index("</small>")]
    parts = api["totals"]["breakdown"]
    for name in ("price", "dividends", "fx", "fees"):
        assert _part(line, name) == _money(parts[name]), name
    assert _part(line, "dividends") == "12.50" and _part(line, "fees") == "-1.50"
    holdings_table = _table(page, "holdings")
    for holding in api["holdings"]:
        row = re.search(rf'<tr data-live-symbol="{re.escape(holding["symbol"])}".*?</tr>', holdings_table, re.S)
        cell = re.search(r'data-testid="holding-breakdown">.*?</td>', row.group(0), re.S).group(0)
        for name in ("price", "dividends", "fx"):
            assert _part(cell, name) == _money(holding["return_breakdown"][name]), (holding["symbol"], name)


def test_realised_gains_by_year_and_their_csv(client, ledger, token) -> None:
    api = client.get("/api/v1/portfolio/realised", headers=ledger).get_json()
    page = client.get("/portfolio").get_data(as_text=True)
    section = _section(page, "realised")
    assert "FIFO" in _field(section, "cost-basis-method")
    rows = re.findall(r'<tr data-year="(\d+)"><td>\d+</td><td class="num">([^<]*)</td><td class="num">([^<]*)</td>'
                      r'\s*<td class="num[^"]*">([^<]*)</td>', section)
    assert rows == [(str(y["year"]), _money(y["proceeds"]), _money(y["cost"]), _money(y["gain"]))
                    for y in reversed(api["years"])]
    assert [r[3] for r in rows] == ["-200.00", "495.00"]
    assert 'href="/portfolio/realised.csv?year=2023"' in section and 'href="/portfolio/realised.csv"' in section
    download = client.get("/portfolio/realised.csv?year=2023")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert 'filename="realised-2023.csv"' in download.headers["Content-Disposition"]
    assert download.get_data() == client.get("/api/v1/portfolio/realised.csv?year=2023", headers=ledger).get_data()
    [sale] = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert (sale["date"], sale["quantity"], sale["gain"], sale["gain_base"]) == ("2023-03-01", "10", "495.00", "495.00")
    everything = client.get("/portfolio/realised.csv")
    assert 'filename="realised.csv"' in everything.headers["Content-Disposition"]
    assert [r["date"] for r in csv.DictReader(io.StringIO(everything.get_data(as_text=True)))] == [
        "2023-03-01", "2024-04-02"]
    # The account's method names the table and costs the download.
    client.patch("/api/v1/me", json={"cost_basis_method": "average"}, headers=ledger)
    section = _section(client.get("/portfolio").get_data(as_text=True), "realised")
    assert _field(section, "cost-basis-method") == "moving average cost" and "345.00" in section
    [sale] = list(csv.DictReader(io.StringIO(client.get("/portfolio/realised.csv?year=2023").get_data(as_text=True))))
    assert sale["gain"] == "345.00"


@pytest.mark.parametrize("year", ["abc", "12", "1969", "10000", "-2023", "2023.0", "²⁰²³"])
def test_a_bad_year_is_refused_visibly(client, ledger, year) -> None:
    refused = client.get("/portfolio/realised.csv", query_string={"year": year})
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    flashes = _flashes(refused.get_data(as_text=True))
    assert any("is not a year; choose one from 1970 to 9999" in m for m in flashes), flashes


def test_the_download_needs_a_login(client, ledger) -> None:
    assert client.get("/portfolio/realised.csv").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    gone = client.get("/portfolio/realised.csv")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]


def test_no_sales_yet(client, page_user) -> None:
    ok_txn(client, page_user["headers"], "buy", "SAP.DE", 1, 100, "2024-01-02")
    section = _section(client.get("/portfolio").get_data(as_text=True), "realised")
    assert "No sales yet" in section
    download = client.get("/portfolio/realised.csv?year=2024")
    assert download.status_code == 200 and download.get_data(as_text=True).count("\n") == 1  # the header only
