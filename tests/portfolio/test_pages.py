"""The watchlist, portfolio and alerts pages and their forms (session login, CSRF tokens)."""
from __future__ import annotations

import html
import io
import json
import re
from decimal import Decimal

import pytest

from tests.conftest import csrf_token
from tests.portfolio.helpers import ok_txn, transactions

D = Decimal


def _attr(page: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', page)
    assert match, name
    return html.unescape(match.group(1))


@pytest.fixture
def token(client, page_user) -> str:
    return csrf_token(client, "/account")


def test_pages_need_a_login(client) -> None:
    for path in ("/watchlist", "/portfolio", "/alerts"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_empty_pages_render(client, page_user) -> None:
    for path, marker in (("/watchlist", "My watchlist"), ("/portfolio", "No transactions yet."),
                         ("/alerts", "No alerts yet.")):
        response = client.get(path)
        assert response.status_code == 200 and marker in response.get_data(as_text=True), path
    assert client.get("/portfolio?range=bogus").status_code == 400  # said so, and 1y shown


def test_portfolio_page_with_holdings(client, page_user) -> None:
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    ok_txn(client, h, "buy", "AAPL", 2, 150, "2025-06-02")
    api = client.get("/api/v1/portfolio/allocation", headers=h).get_json()
    page = client.get("/portfolio").get_data(as_text=True)
    holdings_table = page[page.index('data-testid="holdings"'):]
    holdings_table = holdings_table[:holdings_table.index("</table>")]
    assert 'data-live-symbol="SAP.DE"' in holdings_table and 'data-live-symbol="AAPL"' in holdings_table
    # The allocation doughnuts (drawn on the server) have the allocation API's parts, in its order and weights.
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, "html.parser")
    for dimension in ("holding", "sector", "country", "currency"):
        paths = soup.select(f"[data-allocation-group={dimension}] path[data-slice]")
        assert [p["data-slice"] for p in paths] == [s["key"] for s in api[dimension]], dimension
        assert [float(p["data-weight"]) for p in paths] == pytest.approx([s["weight"] for s in api[dimension]])
        assert len(soup.select(f"#allocation-legend-{dimension} li")) == len(api[dimension])
    assert sorted(p["data-slice"] for p in soup.select("[data-allocation-group=currency] path")) == ["EUR", "USD"]
    assert not soup.select_one("[data-allocation-group=holding]").has_attr("hidden")
    assert soup.select_one("[data-allocation-group=sector]").has_attr("hidden")
    performance = json.loads(_attr(page, "data-performance"))
    assert performance["benchmark_name"] == "DAX" and performance["portfolio"] and performance["benchmark"]
    assert performance["portfolio"][0]["value"] == 100
    assert 'id="performance-chart"' in page and 'data-testid="monthly"' in page
    monthly = page[page.index('data-testid="monthly"'):]
    assert "<td>2026</td>" in monthly and "<td>2025</td>" in monthly
    assert 'data-testid="transactions"' in page


def test_add_transaction_form(client, page_user, token) -> None:
    form = {"csrf_token": token, "date": "2025-03-03", "symbol": "SAP.DE", "kind": "buy", "quantity": "abc",
            "price": "101.25", "fee": "", "note": "my note"}
    bad = client.post("/portfolio/transactions", data=form)
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert "Enter a number." in page and 'aria-invalid="true"' in page
    # Everything typed is still in the form.
    for name, value in (("symbol", "SAP.DE"), ("quantity", "abc"), ("price", "101.25"), ("note", "my note"),
                        ("date", "2025-03-03")):
        assert re.search(rf'name="{name}"[^>]*value="{re.escape(value)}"', page), name
    # The service's own checks come back as field messages too.
    unknown = client.post("/portfolio/transactions", data={**form, "symbol": "NOPE.XX", "quantity": "1"})
    assert unknown.status_code == 400 and "is not in the stock universe" in unknown.get_data(as_text=True)
    assert 'name="symbol" value="NOPE.XX"' in unknown.get_data(as_text=True)
    bad_date = client.post("/portfolio/transactions", data={**form, "quantity": "1", "date": "03/03/2025"})
    assert bad_date.status_code == 400 and "Enter a date as YYYY-MM-DD." in bad_date.get_data(as_text=True)
    # An oversell is a 422 with the form-level message saying how many are held.
    oversell = client.post("/portfolio/transactions", data={**form, "kind": "sell", "quantity": "5"})
    assert oversell.status_code == 422
    text = oversell.get_data(as_text=True)
    assert 'data-testid="form-error"' in text and "only 0 held" in text and 'name="quantity" value="5"' in text
    assert "<option selected>sell</option>" in text
    assert transactions(client, page_user["headers"]) == []
    good = client.post("/portfolio/transactions", data={**form, "quantity": "2.5"}, follow_redirects=True)
    assert good.status_code == 200 and "Buy of SAP.DE recorded." in good.get_data(as_text=True)
    stored = transactions(client, page_user["headers"])
    assert [(t["symbol"], t["quantity"], t["price"], t["fee"], t["note"]) for t in stored] == [
        ("SAP.DE", "2.5", "101.25", "0", "my note")]
    # The delete button removes it.
    gone = client.post(f"/portfolio/transactions/{stored[0]['id']}/delete", data={"csrf_token": token},
                       follow_redirects=True)
    assert "Transaction deleted." in gone.get_data(as_text=True)
    assert transactions(client, page_user["headers"]) == []


def test_form_without_csrf_token_is_refused(client, page_user) -> None:
    response = client.post("/portfolio/transactions", data={"date": "2025-03-03", "symbol": "SAP.DE", "kind": "buy",
                                                            "quantity": "1", "price": "1"})
    assert response.status_code == 400
    assert transactions(client, page_user["headers"]) == []


def test_import_form_lists_row_errors_at_the_form(client, page_user, token) -> None:
    header = "date,symbol,kind,quantity,price,fee,currency,note\n"
    bad = header + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n" + "2025-02-30,SAP.DE,buy,5,100,0,EUR,\n"

    def upload(data: bytes, name: str = "t.csv"):
        return client.post("/portfolio/import", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data", follow_redirects=True)

    response = upload(bad.encode())
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-testid="import-errors"' in page and "1 row is invalid; nothing was imported." in page
    assert "<li>Line 3: Date: Use YYYY-MM-DD.</li>" in page
    assert 'action="/portfolio/import#transactions"' in page  # a refused file comes back at its form
    assert transactions(client, page_user["headers"]) == []
    assert "The file must be UTF-8 text" in upload("caf\u00e9".encode("latin-1")).get_data(as_text=True)
    assert "Choose a CSV file to import." in upload(b"", name="").get_data(as_text=True)
    good = header + "2025-03-03,SAP.DE,buy,5,100,0,EUR,\n"
    assert "Imported 1 transaction; 0 already there." in upload(good.encode()).get_data(as_text=True)
    assert "Imported 0 transactions; 1 already there." in upload(good.encode()).get_data(as_text=True)


def test_stock_page_adds_to_the_picked_watchlist(client, page_user, token) -> None:
    h = page_user["headers"]
    second = client.post("/api/v1/watchlists", json={"name": "Second"}, headers=h).get_json()
    page = client.get("/stocks/SAP.DE").get_data(as_text=True)
    form = page[page.index('class="add-watchlist"'):]
    form = form[:form.index("</form>")]
    assert 'name="symbol" value="SAP.DE"' in form and 'name="back" value="stock"' in form
    assert f'<option value="{second["id"]}">Second</option>' in form
    response = client.post("/watchlist/add", data={"csrf_token": token, "watchlist": str(second["id"]),
                                                   "symbol": "sap.de", "back": "stock"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/stocks/SAP.DE")
    lists = {w["name"]: [i["symbol"] for i in w["items"]]
             for w in client.get("/api/v1/watchlists", headers=h).get_json()}
    assert lists == {"My watchlist": [], "Second": ["SAP.DE"]}
    # Adding it again is refused with a message, and the list is unchanged.
    again = client.post("/watchlist/add", data={"csrf_token": token, "watchlist": str(second["id"]),
                                                "symbol": "SAP.DE"}, follow_redirects=True)
    assert "already on" in again.get_data(as_text=True)
    no_pick = client.post("/watchlist/add", data={"csrf_token": token, "symbol": "SAP.DE"}, follow_redirects=True)
    assert "Pick a watchlist." in no_pick.get_data(as_text=True)
    assert client.get(f"/api/v1/watchlists/{second['id']}", headers=h).get_json()["items"][0]["symbol"] == "SAP.DE"


def test_watchlist_page_forms(client, page_user, token) -> None:
    h = page_user["headers"]
    created = client.post("/watchlist", data={"csrf_token": token, "name": "Cars"})
    assert created.status_code == 302
    cars = next(w for w in client.get("/api/v1/watchlists", headers=h).get_json() if w["name"] == "Cars")
    assert created.headers["Location"].endswith(f"/watchlist?id={cars['id']}")
    for symbol in ("SAP.DE", "ADS.DE"):
        client.post(f"/watchlist/{cars['id']}/items", data={"csrf_token": token, "symbol": symbol})
    client.post(f"/watchlist/{cars['id']}/items/ADS.DE/move", data={"csrf_token": token, "direction": "up"})
    client.post(f"/watchlist/{cars['id']}/rename", data={"csrf_token": token, "name": "Autos"})
    body = client.get(f"/api/v1/watchlists/{cars['id']}", headers=h).get_json()
    assert body["name"] == "Autos" and [i["symbol"] for i in body["items"]] == ["ADS.DE", "SAP.DE"]
    page = client.get(f"/watchlist?id={cars['id']}").get_data(as_text=True)
    assert 'data-testid="watchlist-table"' in page
    assert page.index('data-live-symbol="ADS.DE"') < page.index('data-live-symbol="SAP.DE"')
    dup = client.post("/watchlist", data={"csrf_token": token, "name": "Autos"}, follow_redirects=True)
    assert "already have a watchlist" in dup.get_data(as_text=True)
    client.post(f"/watchlist/{cars['id']}/items/SAP.DE/remove", data={"csrf_token": token})
    client.post(f"/watchlist/{cars['id']}/delete", data={"csrf_token": token})
    assert [w["name"] for w in client.get("/api/v1/watchlists", headers=h).get_json()] == ["My watchlist"]


def test_alerts_page(client, page_user, token) -> None:
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 4, 50, "2025-03-03", fee=2)
    # Average cost (4 * 50 + 2) / 4 = 50.50; a 20 % stop-loss is 50.50 * 0.8 = 40.40.
    made = client.post("/alerts", data={"csrf_token": token, "symbol": "SAP.DE", "kind": "stop_loss",
                                        "threshold": "", "threshold_pct": "20", "confirm": "1"},
                       follow_redirects=True)  # confirmed: the demo price may be below it already
    assert "Alert set." in made.get_data(as_text=True)
    alerts = client.get("/api/v1/alerts", headers=h).get_json()
    assert len(alerts) == 1 and D(alerts[0]["threshold"]) == D("40.4")
    bad = client.post("/alerts", data={"csrf_token": token, "symbol": "SAP.DE", "kind": "above", "threshold": "x"},
                      follow_redirects=True)
    assert "Price: Enter a number." in bad.get_data(as_text=True)
    page = client.get("/alerts").get_data(as_text=True)
    assert 'data-testid="alerts"' in page and f'data-alert-id="{alerts[0]["id"]}"' in page
    assert "(20 % from cost)" in page


def test_a_split_entered_on_the_page_carries_a_pre_split_buy(client, page_user, token) -> None:
    headers = page_user["headers"]
    ok_txn(client, headers, "buy", "AAPL", "10", "500", "2020-08-03")
    bad = client.post("/portfolio/splits", data={"csrf_token": token, "symbol": "AAPL", "ex_date": "31.08.2020",
                                                 "ratio_from": "1", "ratio_to": "4"}, follow_redirects=True)
    assert "Enter the ex-date as YYYY-MM-DD" in bad.get_data(as_text=True)
    same = client.post("/portfolio/splits", data={"csrf_token": token, "symbol": "AAPL", "ex_date": "2020-08-31",
                                                  "ratio_from": "4", "ratio_to": "4"}, follow_redirects=True)
    assert "Give two different whole numbers of shares" in html.unescape(same.get_data(as_text=True))
    done = client.post("/portfolio/splits", data={"csrf_token": token, "symbol": "aapl", "ex_date": "2020-08-31",
                                                  "ratio_from": "1", "ratio_to": "4"}, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "Split of AAPL recorded: 4 for 1 from 2020-08-31." in page
    assert "<td>AAPL</td><td>2020-08-31</td><td>4:1</td><td>you</td>" in page
    held = client.get("/api/v1/portfolio", headers=headers).get_json()["holdings"]
    assert [(h["symbol"], D(h["quantity"]), D(h["avg_cost"])) for h in held] == [("AAPL", 40, 125)]
    split_id = client.get("/api/v1/portfolio/splits", headers=headers).get_json()["items"][0]["id"]
    gone = client.post(f"/portfolio/splits/{split_id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Split deleted." in gone.get_data(as_text=True)
    assert D(client.get("/api/v1/portfolio", headers=headers).get_json()["holdings"][0]["quantity"]) == 10


def test_the_alert_form_asks_before_setting_an_alert_that_would_fire_at_once(client, page_user, token) -> None:
    """A stop-loss above today's price (or a take-profit below it) is crossed already: the page says so,
    with the price, and sets it only when confirmed. "-10" % is a stop-loss 10 % below cost."""
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 4, 50, "2025-03-03", fee=2)  # average cost 50.50
    price = D(str(client.get("/api/v1/stocks/SAP.DE/quote", headers=h).get_json()["price"]))
    above = (price * D("1.2")).quantize(D("0.01"))
    form = {"csrf_token": token, "symbol": "SAP.DE", "kind": "stop_loss", "threshold": str(above), "threshold_pct": ""}
    asked = client.post("/alerts", data=form).get_data(as_text=True)
    assert 'data-testid="alert-confirm"' in asked
    assert f"SAP.DE is at {price.quantize(D('0.01'))}, already at or below this stop-loss of {above}" in asked
    assert client.get("/api/v1/alerts", headers=h).get_json() == []  # nothing stored until confirmed
    assert 'name="confirm" value="1"' in asked and f'name="threshold" value="{above}"' in asked
    done = client.post("/alerts", data={**form, "confirm": "1"}, follow_redirects=True).get_data(as_text=True)
    assert "Alert set." in done
    # Not crossed: set at once. A typed "-10" % is 10 % below cost: 50.50 * 0.9 = 45.45.
    below = (price * D("0.5")).quantize(D("0.01"))
    plain = client.post("/alerts", data={**form, "threshold": str(below)}, follow_redirects=True)
    assert "Alert set." in plain.get_data(as_text=True)
    pct = client.post("/alerts", data={**form, "threshold": "", "threshold_pct": "-10", "confirm": "1"},
                      follow_redirects=True)
    assert "Alert set." in pct.get_data(as_text=True)
    stored = {D(a["threshold"]) for a in client.get("/api/v1/alerts", headers=h).get_json()}
    assert stored == {above, below, D("45.45")}
    page = client.get("/alerts").get_data(as_text=True)
    assert f">{above:.2f}</td>" in page and ".0000<" not in page  # prices as prices, not 4 decimals
    both = client.post("/alerts", data={**form, "threshold_pct": "5"}, follow_redirects=True).get_data(as_text=True)
    assert "Price: Give a price or a % from cost, not both." in both and "threshold_pct:" not in both
