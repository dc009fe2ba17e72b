"""The portfolio page's transactions: edit form, currency field, delete with confirmation and undo."""
from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest

from tests.conftest import csrf_token, login_page
from tests.portfolio.helpers import holdings, ok_txn, transactions

D = Decimal
FIELDS = ("date", "symbol", "kind", "quantity", "price", "fee", "currency", "note")


@pytest.fixture
def token(client, page_user) -> str:
    return csrf_token(client, "/account")


def _value(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page)
    assert match, name
    return html.unescape(match.group(1))


def _input(page: str, name: str) -> str:
    match = re.search(rf'<(?:input|select)[^>]*name="{name}"[^>]*>', page)
    assert match, name
    return match.group(0)


def _message(page: str, name: str) -> str | None:
    """The message shown at a field (inside its label, right after it), or None."""
    match = re.search(rf'<(?:input|select)[^>]*name="{name}"[^>]*>(?:<option.*?</select>)?\s*'
                      rf'<small class="field-error">([^<]*)</small>', page, re.S)
    return html.unescape(match.group(1)) if match else None


def _undo_token(page: str) -> str:
    form = re.search(r'<form method="post" action="/portfolio/transactions/undo"[^>]*>(.*?)</form>', page, re.S)
    assert form, "no Undo form in the flash message"
    assert 'name="csrf_token"' in form.group(1)
    return re.search(r'name="token" value="([^"]+)"', form.group(1)).group(1)


def _undo(client, page: str):
    """Press the Undo button of the flash message (its own CSRF token and undo token)."""
    form = re.search(r'<form method="post" action="/portfolio/transactions/undo"[^>]*>(.*?)</form>', page, re.S)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.group(1)).group(1)
    return client.post("/portfolio/transactions/undo", data={"csrf_token": csrf, "token": _undo_token(page)},
                       follow_redirects=True)


def _content(t: dict) -> tuple:
    return tuple(t[k] for k in FIELDS)


def _edit_form(client, transaction_id: int) -> dict[str, str]:
    page = client.get(f"/portfolio/transactions/{transaction_id}/edit").get_data(as_text=True)
    form = {name: _value(page, name) for name in FIELDS if name != "kind"}
    form["kind"] = re.search(r"<option selected>(\w+)</option>", page).group(1)
    return form


def test_the_table_links_each_row_to_edit_and_to_a_delete_confirmation(client, page_user) -> None:
    first = ok_txn(client, page_user["headers"], "buy", "SAP.DE", 10, 40, "2025-03-03")
    page = client.get("/portfolio").get_data(as_text=True)
    table = page[page.index('data-testid="transactions"'):]
    table = table[:table.index("</table>")]
    row = re.search(rf'<tr data-transaction-id="{first["id"]}">.*?</tr>', table, re.S).group(0)
    assert f'href="/portfolio/transactions/{first["id"]}/edit"' in row
    assert f'href="/portfolio/transactions/{first["id"]}/delete"' in row  # a GET: the confirmation page
    assert f'data-delete-url="/portfolio/transactions/{first["id"]}/delete"' in row  # for the JS confirm()
    assert "<form" not in row  # without JavaScript, nothing in the row deletes by itself
    assert re.search(r'name="currency" value=""', page)  # the add form's currency field, empty by default


def test_edit_is_prefilled_and_saving_changes_the_ledger(client, page_user, token) -> None:
    h = page_user["headers"]
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, "40.5", "2025-03-03", fee="1.25", note="first lot")
    form = _edit_form(client, buy["id"])
    assert form == {"date": "2025-03-03", "symbol": "SAP.DE", "kind": "buy", "quantity": "10", "price": "40.5",
                    "fee": "1.25", "currency": "EUR", "note": "first lot"}
    saved = client.post(f"/portfolio/transactions/{buy['id']}/edit",
                        data={**form, "csrf_token": token, "quantity": "12", "date": "2025-03-04", "note": "fixed"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/portfolio")
    page = client.get("/portfolio").get_data(as_text=True)
    assert "Transaction updated: buy of 12 SAP.DE on 2025-03-04." in page
    [stored] = transactions(client, h)
    assert stored["id"] == buy["id"]
    assert _content(stored) == ("2025-03-04", "SAP.DE", "buy", "12", "40.5", "1.25", "EUR", "fixed")
    assert D(holdings(client, h)["SAP.DE"]["quantity"]) == 12
    # An empty currency is the stock's own.
    client.post(f"/portfolio/transactions/{buy['id']}/edit", data={**form, "csrf_token": token, "currency": ""})
    assert transactions(client, h)[0]["currency"] == "EUR"


def test_an_oversell_edit_is_refused_with_the_typed_values_kept(client, page_user, token) -> None:
    h = page_user["headers"]
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    ok_txn(client, h, "sell", "SAP.DE", 8, 45, "2025-04-01")
    before = transactions(client, h)
    form = {**_edit_form(client, buy["id"]), "csrf_token": token, "quantity": "5", "note": "typed"}
    refused = client.post(f"/portfolio/transactions/{buy['id']}/edit", data=form)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    error = re.search(r'data-testid="form-error">([^<]*)<', page).group(1)
    assert "only 5 held" in html.unescape(error)
    assert page.index('data-testid="form-error"') < page.index('data-testid="edit-transaction-form"')  # on top
    assert _value(page, "quantity") == "5" and _value(page, "note") == "typed"
    assert transactions(client, h) == before
    assert D(holdings(client, h)["SAP.DE"]["quantity"]) == 2


def test_field_errors_are_shown_at_the_field_and_summed_up(client, page_user, token) -> None:
    h = page_user["headers"]
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    before = transactions(client, h)
    form = {**_edit_form(client, buy["id"]), "csrf_token": token}
    bad = client.post(f"/portfolio/transactions/{buy['id']}/edit", data={**form, "quantity": "ten", "price": "-1"})
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert 'aria-invalid="true"' in _input(page, "quantity") and 'aria-invalid="true"' not in _input(page, "price")
    assert _message(page, "quantity") == "Enter a number." and _message(page, "price") is None
    summary = page[page.index('data-testid="form-errors"'):page.index('data-testid="edit-transaction-form"')]
    assert '<a href="#edit-quantity">Quantity</a>' in summary and "Enter a number." in summary
    assert _value(page, "quantity") == "ten"
    # The service's checks too: a price that is not positive, a currency that is not the stock's.
    wrong = client.post(f"/portfolio/transactions/{buy['id']}/edit", data={**form, "currency": "usd", "price": "-1"})
    assert wrong.status_code == 400
    page = html.unescape(wrong.get_data(as_text=True))
    assert 'aria-invalid="true"' in _input(page, "currency") and 'aria-invalid="true"' in _input(page, "price")
    assert _message(page, "currency") == "SAP.DE trades in EUR; record it in EUR."
    assert _message(page, "price") == "Must be greater than 0."
    assert _value(page, "currency") == "usd"
    unknown = client.post(f"/portfolio/transactions/{buy['id']}/edit", data={**form, "symbol": "NOPE.XX"})
    assert unknown.status_code == 400 and "is not in the stock universe" in unknown.get_data(as_text=True)
    long_note = client.post(f"/portfolio/transactions/{buy['id']}/edit", data={**form, "note": "x" * 501})
    assert long_note.status_code == 400 and "At most 500 characters." in long_note.get_data(as_text=True)
    assert transactions(client, h) == before


def test_the_add_form_has_a_currency_field(client, page_user, token) -> None:
    h = page_user["headers"]
    form = {"csrf_token": token, "date": "2025-03-03", "symbol": "SAP.DE", "kind": "buy", "quantity": "1",
            "price": "100", "fee": "", "note": ""}
    wrong = client.post("/portfolio/transactions", data={**form, "currency": "USD"})
    assert wrong.status_code == 400
    page = html.unescape(wrong.get_data(as_text=True))
    assert _message(page, "currency") == "SAP.DE trades in EUR; record it in EUR."
    assert 'aria-invalid="true"' in _input(page, "currency") and _value(page, "currency") == "USD"
    assert transactions(client, h) == []
    assert client.post("/portfolio/transactions", data={**form, "currency": ""}).status_code == 302
    assert client.post("/portfolio/transactions", data={**form, "symbol": "AAPL", "currency": "usd"}).status_code == 302
    assert [(t["symbol"], t["currency"]) for t in transactions(client, h)] == [("SAP.DE", "EUR"), ("AAPL", "USD")]


def test_delete_asks_first_and_can_be_undone_once(client, page_user, token) -> None:
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    sell = ok_txn(client, h, "sell", "SAP.DE", "2.5", "45.125", "2025-04-01", fee="0.99", note="half <b>")
    before = transactions(client, h)
    # The confirmation page shows the transaction and deletes nothing by itself.
    confirm = client.get(f"/portfolio/transactions/{sell['id']}/delete")
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    shown = page[page.index('data-testid="confirm-delete-transaction"'):]
    assert "<td>2025-04-01</td><td>SAP.DE</td><td>sell</td>" in shown and "half &lt;b&gt;" in shown
    assert f'action="/portfolio/transactions/{sell["id"]}/delete"' in page and 'data-testid="cancel-delete"' in page
    assert transactions(client, h) == before
    deleted = client.post(f"/portfolio/transactions/{sell['id']}/delete", data={"csrf_token": csrf_token(
        client, f"/portfolio/transactions/{sell['id']}/delete")}, follow_redirects=True)
    page = deleted.get_data(as_text=True)
    assert "Transaction deleted. (sell of 2.5 SAP.DE on 2025-04-01)" in page
    assert [t["id"] for t in transactions(client, h)] == [before[0]["id"]]
    assert D(holdings(client, h)["SAP.DE"]["quantity"]) == 10
    undo_token = _undo_token(page)
    restored = _undo(client, page)
    assert "Transaction restored: sell of 2.5 SAP.DE on 2025-04-01." in restored.get_data(as_text=True)
    after = transactions(client, h)
    assert [_content(t) for t in after] == [_content(t) for t in before]
    assert D(holdings(client, h)["SAP.DE"]["quantity"]) == D("7.5")
    # The token is spent.
    again = client.post("/portfolio/transactions/undo", data={"csrf_token": token, "token": undo_token},
                        follow_redirects=True)
    assert "That delete can no longer be undone." in again.get_data(as_text=True)
    assert len(transactions(client, h)) == 2
    stale = client.post("/portfolio/transactions/undo", data={"csrf_token": token, "token": "made-up"},
                        follow_redirects=True)
    assert "That delete can no longer be undone." in stale.get_data(as_text=True)
    assert len(transactions(client, h)) == 2


def test_a_refused_delete_shows_why(client, page_user, token) -> None:
    h = page_user["headers"]
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    ok_txn(client, h, "sell", "SAP.DE", 5, 45, "2025-04-01")
    before = transactions(client, h)
    page = client.post(f"/portfolio/transactions/{buy['id']}/delete", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Deleting it would leave a later sell without the shares it sold" in html.unescape(page)
    assert "/portfolio/transactions/undo" not in page
    assert transactions(client, h) == before


def test_an_undo_the_ledger_refuses_can_be_tried_again(client, page_user, token) -> None:
    h = page_user["headers"]
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    sell = ok_txn(client, h, "sell", "SAP.DE", 5, 45, "2025-04-01")
    before = transactions(client, h)
    sell_gone = client.post(f"/portfolio/transactions/{sell['id']}/delete", data={"csrf_token": token},
                            follow_redirects=True).get_data(as_text=True)
    buy_gone = client.post(f"/portfolio/transactions/{buy['id']}/delete", data={"csrf_token": token},
                           follow_redirects=True).get_data(as_text=True)
    assert transactions(client, h) == []
    # The sell first: nothing is held, so it is refused, with the message and the Undo button again.
    refused = _undo(client, sell_gone).get_data(as_text=True)
    assert "The transaction could not be restored:" in refused and "flash-error" in refused
    assert _undo_token(refused) == _undo_token(sell_gone)
    assert transactions(client, h) == []
    assert "Transaction restored" in _undo(client, buy_gone).get_data(as_text=True)
    assert "Transaction restored" in _undo(client, refused).get_data(as_text=True)
    assert sorted(_content(t) for t in transactions(client, h)) == sorted(_content(t) for t in before)


def test_forms_without_a_csrf_token_are_refused(client, page_user, token) -> None:
    h = page_user["headers"]
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    form = _edit_form(client, buy["id"])
    assert client.post(f"/portfolio/transactions/{buy['id']}/edit", data={**form, "quantity": "1"}).status_code == 400
    assert client.post(f"/portfolio/transactions/{buy['id']}/delete").status_code == 400
    page = client.post(f"/portfolio/transactions/{buy['id']}/delete", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    undo = client.post("/portfolio/transactions/undo", data={"token": _undo_token(page)})
    assert undo.status_code == 400
    assert transactions(client, h) == []
    assert "Transaction restored" in _undo(client, page).get_data(as_text=True)  # the token was not spent


def test_another_user_cannot_edit_delete_or_undo(app, client, page_user, token, other) -> None:
    h = page_user["headers"]
    buy = ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03", note="mine")
    before = transactions(client, h)
    theirs = other["client"]
    their_token = csrf_token(theirs, "/account")
    assert theirs.get(f"/portfolio/transactions/{buy['id']}/edit").status_code == 404
    form = {"csrf_token": their_token, "date": "2025-03-03", "symbol": "SAP.DE", "kind": "buy", "quantity": "1",
            "price": "1", "fee": "0", "currency": "", "note": "theirs"}
    edit = theirs.post(f"/portfolio/transactions/{buy['id']}/edit", data=form)
    assert edit.status_code == 404
    page = edit.get_data(as_text=True)
    assert "No such transaction." in page and _value(page, "note") == "theirs"
    confirm = theirs.get(f"/portfolio/transactions/{buy['id']}/delete")
    assert confirm.status_code == 404 and "mine" not in confirm.get_data(as_text=True)
    gone = theirs.post(f"/portfolio/transactions/{buy['id']}/delete", data={"csrf_token": their_token},
                       follow_redirects=True)
    assert "No such transaction." in gone.get_data(as_text=True)
    assert transactions(client, h) == before
    # An undo token is the deleting user's: not another browser's, nor another user's in the same browser.
    page = client.post(f"/portfolio/transactions/{buy['id']}/delete", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    undo_token = _undo_token(page)
    foreign = theirs.post("/portfolio/transactions/undo", data={"csrf_token": their_token, "token": undo_token},
                          follow_redirects=True)
    assert "That delete can no longer be undone." in foreign.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": token})
    login_page(client, other["email"])
    switched = client.post("/portfolio/transactions/undo", data={"csrf_token": csrf_token(client, "/account"),
                                                                 "token": undo_token}, follow_redirects=True)
    assert "That delete can no longer be undone." in switched.get_data(as_text=True)
    assert transactions(client, h) == [] and transactions(theirs, other["headers"]) == []


def test_a_replayed_session_cookie_cannot_undo_a_delete_twice(client, page_user, token) -> None:
    h = page_user["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 40, "2025-03-03")
    sell = ok_txn(client, h, "sell", "SAP.DE", 2, 45, "2025-04-01")
    page = client.post(f"/portfolio/transactions/{sell['id']}/delete", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    undo_token = _undo_token(page)
    cookie = client.get_cookie("session")
    saved = cookie.value  # the session as it was before the undo, holding the unspent token
    _undo(client, page)
    assert len(transactions(client, h)) == 2
    client.set_cookie("session", saved, domain=cookie.domain, path=cookie.path)
    replay = client.post("/portfolio/transactions/undo", data={"csrf_token": token, "token": undo_token},
                         follow_redirects=True)
    assert "That delete was undone already." in replay.get_data(as_text=True)
    assert len(transactions(client, h)) == 2


def test_a_refused_transaction_keeps_its_errors_in_view(client, page_user) -> None:
    """The refused form comes back scrolled to itself (its action's fragment), with a summary at the top
    of the page; its URL (/portfolio/transactions) leads back to the form when reloaded."""
    token = csrf_token(client, "/portfolio")
    page = client.post("/portfolio/transactions", data={"csrf_token": token, "date": "2024-03-01", "symbol": "NOPE.XX",
                                                        "kind": "buy", "quantity": "x", "price": "10", "fee": ""})
    body = page.get_data(as_text=True)
    assert page.status_code == 400
    assert 'action="/portfolio/transactions#add-transaction"' in body and 'id="add-transaction"' in body
    top = body[body.index('data-testid="form-errors-top"'):]
    assert top.index("see the form") < top.index('data-testid="form-errors"')  # the summary comes first
    assert "The transaction was not saved:" in body and 'href="#add-transaction"' in body
    back = client.get("/portfolio/transactions")
    assert back.status_code == 302 and back.headers["Location"].endswith("/portfolio#add-transaction")
