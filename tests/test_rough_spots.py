"""Issue 16's rough spots: labelled score inputs, money in its currency's digits, a watchlist control that
shows what it did (with an undo), deletes that ask first, and news that never repeats a headline."""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from bs4 import BeautifulSoup

from app.market.research import _news_payload
from app.market.types import NewsItem
from app.ops.i18n import money as money_text
from tests.conftest import csrf_token
from tests.portfolio.helpers import ok_txn


def _soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _text(node) -> str:
    return html.unescape(re.sub(r"\s+", " ", node.get_text(" "))).strip()


def test_the_score_card_names_its_inputs_and_their_units(client, page_user):
    soup = _soup(client.get("/stocks/SAP.DE"))
    card = soup.find(attrs={"data-testid": "score"})
    inputs = card.find(attrs={"data-testid": "score-inputs"})
    rows = {_text(tr.find_all("td")[0]): _text(tr.find_all("td")[1]) for tr in inputs.find_all("tr") if tr.find("td")}
    # Raw keys never show; each value carries its unit.
    assert not any("_" in label for label in rows), rows
    score = client.get("/api/v1/stocks/SAP.DE/score", headers=page_user["headers"]).get_json()
    ret = score["factors"]["performance"]["inputs"]["return_12m"]
    assert rows["12-month return"] == ("–" if ret is None else f"{ret * 100:+.1f} %")
    pe = score["factors"]["fundamental"]["inputs"]["pe_ratio"]
    assert rows["Price/earnings"] == ("–" if pe is None else f"{pe:.1f}×")
    rsi = score["factors"]["momentum"]["inputs"]["rsi14"]
    assert rows["RSI (14 days)"] == ("–" if rsi is None else f"{rsi:.1f}")
    factors = [_text(span).rsplit(" ", 2)[0] for span in card.select(".factor > span:first-child")]
    assert factors == ["Performance", "Fundamentals", "News sentiment", "Sector strength", "Momentum"]


def test_money_has_its_currencys_digits():
    assert money_text(Decimal("0.7"), "EUR") == "0.70"
    assert money_text(Decimal("65"), "USD") == "65.00"
    assert money_text(Decimal("1234.5"), "EUR") == "1,234.50"
    assert money_text(Decimal("2500"), "JPY") == "2,500"
    assert money_text(Decimal("180.505"), "EUR") == "180.505"  # never fewer digits than were stored
    assert money_text(Decimal("2500.5"), "JPY") == "2,500.5"
    assert money_text(None, "EUR") == "–"


def test_the_transactions_table_shows_money_with_its_digits(client, page_user):
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", "0.7", "65", "2024-03-01", fee="4.9")
    ok_txn(client, h, "buy", "7203.T", 100, "2500", "2024-03-01", fee="300")
    rows = _soup(client.get("/portfolio")).find(attrs={"data-testid": "transactions"}).select("tbody tr")
    cells = {tr.find_all("td")[1].get_text(): [_text(td) for td in tr.find_all("td")] for tr in rows}
    assert cells["SAP.DE"][4:6] == ["65.00 EUR", "4.90"]
    assert cells["7203.T"][4:6] == ["2,500 JPY", "300"]


def test_the_watchlist_control_says_where_the_stock_is_and_undoes_a_remove(client, page_user):
    h = page_user["headers"]
    first = client.get("/api/v1/watchlists", headers=h).get_json()[0]
    for symbol in ("AAPL", "SAP.DE", "MSFT"):
        client.post(f"/api/v1/watchlists/{first['id']}/items", json={"symbol": symbol}, headers=h)
    soup = _soup(client.get("/stocks/SAP.DE"))
    on = soup.find(attrs={"data-testid": "on-watchlists"})
    assert on is not None and first["name"] in _text(on)
    assert soup.find(attrs={"data-testid": "add-to-watchlist"}) is None  # on every list there is
    # Removing says so, with an undo that puts it back where it was.
    token = csrf_token(client, "/stocks/SAP.DE")
    removed = client.post(f"/watchlist/{first['id']}/items/SAP.DE/remove", data={"csrf_token": token, "back": "stock"})
    assert removed.status_code == 302 and removed.headers["Location"] == "/stocks/SAP.DE"
    page = _soup(client.get("/stocks/SAP.DE"))
    assert page.find(attrs={"data-testid": "add-to-watchlist"}) is not None
    undo = page.find(attrs={"data-testid": "undo-remove"}).find_parent("form")
    fields = {i["name"]: i["value"] for i in undo.find_all("input")}
    client.post(undo["action"], data=fields)
    items = client.get(f"/api/v1/watchlists/{first['id']}", headers=h).get_json()["items"]
    assert [i["symbol"] for i in items] == ["AAPL", "SAP.DE", "MSFT"]  # back in its place


def test_deletes_ask_first(client, page_user):
    h = page_user["headers"]
    client.post("/api/v1/alerts", json={"symbol": "AAPL", "kind": "below", "threshold": "1"}, headers=h)
    alerts = _soup(client.get("/alerts"))
    form = alerts.find(attrs={"data-testid": "delete-alert"}).find_parent("form")
    assert form["data-confirm"] == "Delete the alert AAPL below 1.00?"
    watchlist = _soup(client.get("/watchlist"))
    delete = [f for f in watchlist.find_all("form") if f["action"].endswith("/delete")][0]
    assert delete["data-confirm"].startswith("Delete the watchlist “My watchlist”")


def test_news_never_repeats_a_headline_and_links_only_to_web_pages():
    now = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    items = [NewsItem("SAP.DE", "SAP beats estimates", "https://a.example/1", now - timedelta(hours=3), "demo"),
             NewsItem("SAP.DE", "SAP Beats Estimates!", "https://b.example/1", now - timedelta(hours=1), "demo"),
             NewsItem("SAP.DE", "SAP cuts guidance", "javascript:alert(1)", now - timedelta(hours=2), "demo")]
    payload = _news_payload(items)
    assert [(i["headline"], i["url"]) for i in payload["items"]] == [
        ("SAP Beats Estimates!", "https://b.example/1"),  # the newest telling of the repeated one
        ("SAP cuts guidance", None)]
    assert payload["sentiment"]["count"] == 2
