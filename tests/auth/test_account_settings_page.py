"""The account page's settings form: base currency, risk-free rate (typed in percent), cost basis method."""
from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest

from tests.conftest import csrf_token

ME = "/api/v1/me"


def _me(client, page_user) -> dict:
    return client.get(ME, headers=page_user["headers"]).get_json()


def _settings(me: dict) -> tuple:
    rate = me["risk_free_rate"]
    return me["base_currency"], None if rate is None else Decimal(rate), me["cost_basis_method"]


def _save(client, **fields):
    token = csrf_token(client, "/account")
    return client.post("/account", data={"settings-csrf_token": token, "action": "settings",
                                         **{f"settings-{k}": v for k, v in fields.items()}})


def _field_error(page: str, name: str) -> str | None:
    match = re.search(rf'id="settings-{name}-error" class="field-error">([^<]*)<', page)
    return html.unescape(match.group(1)) if match else None


def test_the_form_shows_the_settings(client, page_user) -> None:
    page = client.get("/account").get_data(as_text=True)
    assert re.search(r'<input[^>]*name="settings-risk_free_rate"[^>]*value=""', page)
    method = re.search(r'<select[^>]*name="settings-cost_basis_method".*?</select>', page, re.S).group(0)
    assert re.search(r'<option selected value="fifo">FIFO', method) or 'value="fifo" selected' in method
    assert 'value="average"' in method and "Moving average" in method


def test_saving_stores_the_rate_as_a_fraction_and_the_method(client, page_user) -> None:
    saved = _save(client, base_currency="USD", risk_free_rate="2.5", cost_basis_method="average")
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/account")
    assert _settings(_me(client, page_user)) == ("USD", Decimal("0.025"), "average")
    page = client.get("/account").get_data(as_text=True)
    assert "Base currency set to USD; risk-free rate 2.5 % a year; cost basis: Moving average cost." in page
    assert re.search(r'<input[^>]*name="settings-risk_free_rate"[^>]*value="2.5"', page)
    # The portfolio's Sharpe ratio uses it.
    risk = client.get("/api/v1/portfolio/performance?range=1y", headers=page_user["headers"]).get_json()["risk"]
    assert risk["risk_free_rate"] == 0.025
    # "2", a comma, a percent sign; empty is no rate (0).
    for typed, stored in (("2", Decimal("0.02")), ("3,75 %", Decimal("0.0375")), ("-0.5", Decimal("-0.005")),
                          ("50", Decimal("0.5")), ("", None)):
        assert _save(client, base_currency="USD", risk_free_rate=typed, cost_basis_method="fifo").status_code == 302
        assert _settings(_me(client, page_user)) == ("USD", stored, "fifo"), typed


@pytest.mark.parametrize("fields, name, message", [
    ({"risk_free_rate": "80"}, "risk_free_rate", "a number from -50 to 50"),
    ({"risk_free_rate": "-51"}, "risk_free_rate", "a number from -50 to 50"),
    ({"risk_free_rate": "abc"}, "risk_free_rate", "Enter the rate in percent a year"),
    ({"risk_free_rate": "NaN"}, "risk_free_rate", "Enter the rate in percent a year"),
    ({"risk_free_rate": "1e999999"}, "risk_free_rate", "Enter the rate in percent a year"),
    ({"cost_basis_method": "lifo"}, "cost_basis_method", "Not a valid choice"),
])
def test_bad_values_are_refused_at_the_field_and_nothing_changes(client, page_user, fields, name, message) -> None:
    assert _save(client, base_currency="GBP", risk_free_rate="1", cost_basis_method="average").status_code == 302
    before = _settings(_me(client, page_user))
    refused = _save(client, **{"base_currency": "USD", "risk_free_rate": "2", "cost_basis_method": "fifo", **fields})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert message in (_field_error(page, name) or ""), page[:3000]
    assert re.search(rf'<(?:input|select) [^>]*aria-invalid="true"[^>]*name="settings-{name}"', page)
    assert _settings(_me(client, page_user)) == before == ("GBP", Decimal("0.01"), "average")


def test_the_base_currency_alone_keeps_working(client, page_user) -> None:
    assert _save(client, base_currency="CHF", risk_free_rate="1.5", cost_basis_method="average").status_code == 302
    # A form with only the base currency (as older pages and the tests of the base currency post it).
    assert _save(client, base_currency="SEK").status_code == 302
    assert _settings(_me(client, page_user)) == ("SEK", Decimal("0.015"), "average")
    assert "Base currency set to SEK" in client.get("/account").get_data(as_text=True)
    assert client.get("/api/v1/portfolio", headers=page_user["headers"]).get_json()["base_currency"] == "SEK"


def test_a_rate_set_through_the_api_shows_in_percent(client, page_user) -> None:
    assert client.patch(ME, json={"risk_free_rate": "0.0325"}, headers=page_user["headers"]).status_code == 200
    page = client.get("/account").get_data(as_text=True)
    assert re.search(r'<input[^>]*name="settings-risk_free_rate"[^>]*value="3.25"', page)


def test_the_settings_need_the_csrf_token(client, page_user) -> None:
    refused = client.post("/account", data={"action": "settings", "settings-base_currency": "USD",
                                            "settings-risk_free_rate": "2", "settings-cost_basis_method": "average"})
    assert refused.status_code == 400
    assert _settings(_me(client, page_user)) == (None, None, "fifo")
