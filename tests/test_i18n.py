"""German and English (issue 16): the account's language, else Accept-Language; German numbers, money and
dates; German forms take decimal commas; every text of the pages is translated; the API stays English."""
from __future__ import annotations

import html
import io
import re
from decimal import Decimal
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import csrf_token
from tests.portfolio.helpers import ok_txn, transactions

ROOT = Path(__file__).resolve().parents[1]
DE = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


def _text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def test_the_browser_s_language_until_the_account_chooses_one(client, page_user):
    german = client.get("/portfolio", headers=DE)
    assert '<html lang="de"' in german.get_data(as_text=True)
    assert "Transaktion erfassen" in _text(german) or "Depot" in _text(german)
    assert '<html lang="en"' in client.get("/portfolio").get_data(as_text=True)
    # The account's choice wins over the browser's.
    token = csrf_token(client, "/account")
    saved = client.post("/account", data={"csrf_token": token, "action": "settings", "settings-csrf_token": token,
                                          "settings-base_currency": "EUR", "settings-risk_free_rate": "",
                                          "settings-cost_basis_method": "fifo", "settings-language": "de",
                                          "settings-theme": "auto"}, follow_redirects=True)
    assert saved.status_code == 200
    assert '<html lang="de"' in client.get("/watchlist").get_data(as_text=True)  # no Accept-Language at all
    assert '<html lang="de"' in client.get("/watchlist", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_numbers_money_and_dates_in_german(client, page_user):
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", "1200", "1071.6", "2023-01-02", fee="4.9")
    page = _text(client.get("/portfolio", headers=DE))
    assert "1.071,60" in page and "02.01.2023" in page and "4,90" in page
    english = _text(client.get("/portfolio"))
    assert "1,071.60" in english and "2023-01-02" in english
    # The totals and percentages too: the holding's value, as the API has it, written the German way.
    totals = client.get("/api/v1/portfolio", headers=h).get_json()["totals"]
    value = f"{Decimal(str(totals['value'])):,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    assert value in page


def test_german_forms_take_decimal_commas(client, page_user):
    token = csrf_token(client, "/portfolio")
    response = client.post("/portfolio/transactions", headers=DE, data={
        "csrf_token": token, "date": "2024-03-01", "symbol": "SAP.DE", "kind": "buy", "quantity": "10,5",
        "price": "1.180,25", "fee": "4,90", "currency": "", "note": ""})
    assert response.status_code == 302, _text(response)[:400]
    stored = transactions(client, page_user["headers"])[0]
    assert (stored["quantity"], stored["price"], stored["fee"]) == ("10.5", "1180.25", "4.9")
    # An English page reads the point; a German page's message for a bad amount is German.
    bad = client.post("/portfolio/transactions", headers=DE, data={
        "csrf_token": token, "date": "2024-03-01", "symbol": "SAP.DE", "kind": "buy", "quantity": "zehn",
        "price": "10", "fee": "", "currency": "", "note": ""})
    assert bad.status_code == 400 and "Geben Sie eine Zahl ein." in _text(bad)


def test_the_api_stays_english(client, auth):
    response = client.post("/api/v1/portfolio/transactions", headers={**auth["headers"], **DE}, json={
        "symbol": "SAP.DE", "kind": "buy", "quantity": "zehn", "price": "10", "date": "2024-03-01"})
    assert response.status_code == 400
    body = response.get_json()
    assert "Enter a number." in str(body["error"]["details"])


def test_every_text_of_the_pages_has_a_german_translation():
    found = {message[2] if isinstance(message[2], str) else message[2][0]
             for message in extract_from_dir(str(ROOT), method_map=[("app/**.py", "python"),
                                                                     ("templates/**.html", "jinja2")],
                                             keywords={"_": None, "gettext": None, "ngettext": (1, 2),
                                                       "lazy_gettext": None, "_l": None})}
    with (ROOT / "translations/de/LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f)
    missing = sorted(m for m in found if not catalog.get(m) or not catalog.get(m).string)
    assert not missing, f"{len(missing)} texts without German: {missing[:20]}"
    # The compiled catalogue the app reads is the one in the .po (make translations compiles it).
    with (ROOT / "translations/de/LC_MESSAGES/messages.mo").open("rb") as f:
        compiled = read_mo(io.BytesIO(f.read()))
    def entries(messages):
        as_tuple = lambda value: tuple(value) if isinstance(value, (list, tuple)) else value  # noqa: E731
        return {as_tuple(m.id): as_tuple(m.string) for m in messages if m.id}

    assert entries(compiled) == entries(catalog)


def test_a_german_account_s_first_watchlist_has_a_german_name(client):
    token = csrf_token(client, "/register")
    email = "erste-watchlist@example.com"
    from tests.conftest import PASSWORD

    client.post("/register", headers=DE, data={"csrf_token": token, "email": email, "password": PASSWORD,
                                               "confirm": PASSWORD})
    assert "Meine Watchlist" in _text(client.get("/watchlist", headers=DE))
    api = client.post("/api/v1/auth/register", headers=DE, json={"email": "api-" + email, "password": PASSWORD})
    tokens = client.post("/api/v1/auth/login", json={"email": "api-" + email, "password": PASSWORD}).get_json()
    assert api.status_code == 201
    lists = client.get("/api/v1/watchlists", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert [w["name"] for w in lists] == ["My watchlist"]  # the API is English
