"""The signed-in dashboard (issue 16): portfolio now, movers, a watchlist, alerts, top scores, markets, news."""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from decimal import Decimal

import exchange_calendars
import pandas as pd
from bs4 import BeautifulSoup

from tests.portfolio.helpers import ok_txn


def _soup(client) -> BeautifulSoup:
    response = client.get("/")
    assert response.status_code == 200
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _card(soup: BeautifulSoup, name: str):
    card = soup.find(attrs={"data-testid": name})
    assert card is not None, name
    return card


def _text(node) -> str:
    return html.unescape(re.sub(r"\s+", " ", node.get_text(" "))).strip()


def test_a_new_account_sees_how_to_start(client, page_user):
    soup = _soup(client)
    first = _card(soup, "first-run")
    assert first.find("input", attrs={"name": "q"}) is not None  # find a stock right there
    assert first.find("a", attrs={"data-testid": "first-run-import"})["href"] == "/portfolio#transactions"
    assert "Welcome back" not in _text(soup) and "Welcome," in _text(soup)
    assert "No holdings yet" in _text(_card(soup, "dash-portfolio"))
    assert "No alerts yet" in _text(_card(soup, "dash-alerts"))
    assert "My watchlist is empty" in _text(_card(soup, "dash-watchlist"))  # every account starts with one
    # The home exchanges are there even before anything is followed.
    shown = {li["data-exchange"] for li in _card(soup, "dash-markets").find_all("li")}
    assert {"XETR", "XNYS"} <= shown


def test_the_dashboard_shows_the_users_own_figures(client, page_user):
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, "100", "2024-03-01")
    ok_txn(client, h, "buy", "AAPL", 5, "150", "2024-03-01")
    mine = client.post("/api/v1/watchlists", json={"name": "Ideas"}, headers=h).get_json()
    for symbol in ("MSFT", "SIE.DE", "AAPL"):
        assert client.post(f"/api/v1/watchlists/{mine['id']}/items", json={"symbol": symbol},
                           headers=h).status_code == 201
    price = Decimal(str(client.get("/api/v1/stocks/SAP.DE/quote", headers=h).get_json()["price"]))
    fired = client.post("/api/v1/alerts", json={"symbol": "SAP.DE", "kind": "above", "threshold": str(price / 2)},
                        headers=h).get_json()
    client.post("/api/v1/alerts", json={"symbol": "AAPL", "kind": "below", "threshold": "1"}, headers=h)

    soup = _soup(client)
    assert soup.find(attrs={"data-testid": "first-run"}) is None
    assert "Welcome back" in _text(soup)

    # The value and day change are the portfolio API's, in the base currency.
    totals = client.get("/api/v1/portfolio", headers=h).get_json()["totals"]
    card = _card(soup, "dash-portfolio")
    value = card.find(attrs={"data-field": "portfolio-value"})
    assert _text(value) == f"{Decimal(str(totals['value'])):,.2f} EUR"
    assert _text(card.find(attrs={"data-field": "portfolio-day-change"})) == f"{Decimal(str(totals['day_change'])):+.2f}"
    assert card.find(attrs={"data-portfolio-live": True}) is not None  # the live updates find it

    # Movers: every stock held or watched, ordered by the size of today's move (from the batch quotes).
    quotes = client.get("/api/v1/stocks/batch?symbols=SAP.DE,AAPL,MSFT,SIE.DE", headers=h).get_json()["quotes"]
    expected = sorted(quotes, key=lambda s: (-abs(quotes[s]["change_pct"]), s))
    rows = _card(soup, "dash-movers").find_all("tr", attrs={"data-live-symbol": True})
    assert [r["data-live-symbol"] for r in rows] == expected
    held = {r["data-live-symbol"] for r in rows if "held" in _text(r)}
    assert held == {"SAP.DE", "AAPL"}
    first = quotes[expected[0]]
    assert _text(rows[0].find(attrs={"data-field": "change-pct"})) == f"{first['change_pct']:+.2f} %"

    # The first watchlist, in its order, with live-ready prices.
    watch = _card(soup, "dash-watchlist")
    assert [r["data-live-symbol"] for r in watch.find_all("tr", attrs={"data-live-symbol": True})] == [
        "MSFT", "SIE.DE", "AAPL"]
    assert watch.find("a", href=f"/watchlist?id={mine['id']}") is not None

    # Alerts: the one the price meets fired (the page load checks), the other is still watched.
    alerts = _card(soup, "dash-alerts")
    fired_text = _text(alerts.find(attrs={"data-testid": "dash-fired"}))
    assert "SAP.DE above" in fired_text and f"fired at {price:,.2f}" in fired_text
    assert "AAPL below 1.00" in _text(alerts.find(attrs={"data-testid": "dash-active"}))
    assert fired["id"]  # stored, and listed as fired by the API too
    listed = {a["id"]: a for a in client.get("/api/v1/alerts", headers=h).get_json()}
    assert listed[fired["id"]]["triggered_at"] is not None

    # The top of the benchmark index (EUR base: DAX), in the rankings API's order.
    ranked = client.get("/api/v1/rankings/growth?index=DAX&limit=5", headers=h).get_json()["items"]
    top = _card(soup, "dash-top")
    assert "DAX" in _text(top.find("header"))
    assert [a.get_text() for a in top.select("tbody a")] == [i["symbol"] for i in ranked]

    # News on the holdings: newest first, each headline once, each from a held stock's news.
    news = _card(soup, "dash-news").select("ul.news li")
    assert news
    headlines = [_text(li.find("a") or li) for li in news]
    by_symbol = {s: client.get(f"/api/v1/stocks/{s}/news", headers=h).get_json()["items"] for s in ("SAP.DE", "AAPL")}
    known = {i["headline"] for items in by_symbol.values() for i in items}
    assert all(any(k in line for k in known) for line in headlines)
    shown_keys = [" ".join(re.sub(r"[^\w]+", " ", line.casefold()).split()) for line in headlines]
    assert len(set(shown_keys)) == len(shown_keys)
    stamps = [re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC", _text(li)).group(1) for li in news]
    assert stamps == sorted(stamps, reverse=True)
    for li in news:
        assert li.find("span", class_="badge")["class"][1] in ("positive", "negative", "neutral")


def test_markets_say_what_the_exchange_calendars_say(client, page_user):
    h = page_user["headers"]
    ok_txn(client, h, "buy", "7203.T", 100, "2500", "2024-03-01")  # Toyota: Tokyo joins the list
    soup = _soup(client)
    now = pd.Timestamp(datetime.now(timezone.utc)).floor("min")
    rows = {li["data-exchange"]: li for li in _card(soup, "dash-markets").find_all("li")}
    assert {"XETR", "XNYS", "XTKS"} <= set(rows)
    for code, li in rows.items():
        calendar = exchange_calendars.get_calendar(code)
        is_open = calendar.is_open_on_minute(now, ignore_breaks=True)
        change = calendar.next_close(now) if is_open else calendar.next_open(now)
        assert li["data-open"] == ("yes" if is_open else "no"), code
        assert f"{'closes' if is_open else 'opens'} {change.strftime('%a %H:%M')} UTC" in _text(li), code


def test_a_visitor_sees_the_universe_and_how_to_join(client):
    soup = _soup(client)
    assert soup.find(attrs={"data-testid": "universe-size"}) is not None
    assert soup.find("a", href="/auth/register") is not None or soup.find("a", href="/register") is not None
    assert soup.find(attrs={"data-testid": "dash-portfolio"}) is None
