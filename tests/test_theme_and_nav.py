"""Dark mode saved per account (or in a cookie before logging in), the skip link and the current page in the
navigation; the chart's last candle is the quote's session (issue 16)."""
from __future__ import annotations

import re

from app.stocks.services import with_session_bar
from tests.conftest import csrf_token, login_page


def _html_tag(client, path: str = "/") -> str:
    return re.search(r"<html[^>]*>", client.get(path).get_data(as_text=True)).group(0)


def test_the_theme_follows_the_browser_until_one_is_chosen_and_stays_with_the_account(client, page_user):
    assert "data-theme" not in _html_tag(client)  # Pico follows prefers-color-scheme
    token = csrf_token(client, "/account")
    saved = client.post("/theme", data={"csrf_token": token, "theme": "dark"}, headers={"Accept": "application/json"})
    assert saved.status_code == 204
    assert 'data-theme="dark"' in _html_tag(client, "/portfolio")
    # The account keeps it: a new browser (no cookie) logging in gets it too.
    other = client.application.test_client()
    login_page(other, page_user["email"])
    assert 'data-theme="dark"' in _html_tag(other, "/watchlist")
    # Without JavaScript the form posts and comes back to the page it was on.
    back = client.post("/theme", data={"csrf_token": csrf_token(client, "/account"),
                                       "theme": "auto", "next": "/alerts?x=1"})
    assert back.status_code == 302 and back.headers["Location"] == "/alerts?x=1"
    assert "data-theme" not in _html_tag(client)
    # An unknown theme is refused and changes nothing; so is a post without the CSRF token.
    bad = client.post("/theme", data={"csrf_token": csrf_token(client, "/account"), "theme": "neon"},
                      headers={"Accept": "application/json"})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["fields"]["theme"]
    assert client.post("/theme", data={"theme": "dark"}).status_code == 400
    assert "data-theme" not in _html_tag(client)
    # Never an open redirect.
    away = client.post("/theme", data={"csrf_token": csrf_token(client, "/account"), "theme": "light",
                                       "next": "//evil.example/"})
    assert away.headers["Location"] == "/"


def test_a_visitor_s_theme_lives_in_a_cookie(client):
    token = csrf_token(client, "/login")
    response = client.post("/theme", data={"csrf_token": token, "theme": "light"}, headers={"Accept": "application/json"})
    assert response.status_code == 204
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("td_theme=light") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert 'data-theme="light"' in _html_tag(client, "/login")


def test_skip_link_and_the_current_page_in_the_navigation(client, page_user):
    page = client.get("/portfolio").get_data(as_text=True)
    assert '<a href="#main" class="skip-link">' in page and '<main class="container" id="main"' in page
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', page)
    assert current == ["/portfolio"]
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', client.get("/alerts").get_data(as_text=True)) == [
        "/alerts"]


def _history(*bars):
    return {"bars": [dict(zip(("date", "open", "high", "low", "close", "volume"), b)) for b in bars]}


def test_a_quote_of_a_later_day_adds_that_day_s_candle():
    history = _history(("2026-12-04", 10, 11, 9, 10.5, 100))  # Friday
    quote = {"price": 12.0, "open": 10.8, "day_high": 12.2, "day_low": 10.7, "volume": 40,
             "ts": "2026-12-07T15:00:00+00:00"}  # Monday
    bars = with_session_bar(history, quote)["bars"]
    assert bars[0] == history["bars"][0]
    assert bars[1] == {"date": "2026-12-07", "open": 10.8, "high": 12.2, "low": 10.7, "close": 12.0, "volume": 40,
                       "partial": True}


def test_a_quote_of_the_last_bar_s_day_brings_that_candle_up_to_it():
    history = _history(("2026-12-03", 9, 10, 8, 9.5, 90), ("2026-12-04", 10, 11, 9, 10.5, 100))
    # The price went above the stored high; the quote knows no open: the stored one stays.
    quote = {"price": 11.4, "open": None, "day_high": None, "day_low": None, "volume": None,
             "ts": "2026-12-04T20:59:00+00:00"}
    bars = with_session_bar(history, quote)["bars"]
    assert len(bars) == 2 and bars[0] == history["bars"][0]
    assert bars[1] == {"date": "2026-12-04", "open": 10, "high": 11.4, "low": 9, "close": 11.4, "volume": 100,
                       "partial": True}


def test_a_weekend_quote_is_the_last_session_and_an_older_quote_changes_nothing():
    history = _history(("2026-12-04", 10, 11, 9, 10.5, 100))
    weekend = {"price": 10.2, "open": 10, "day_high": 11, "day_low": 9, "volume": 100,
               "ts": "2026-12-06T11:00:00+00:00"}  # Sunday: the demo replaying Friday
    bars = with_session_bar(history, weekend)["bars"]
    assert [b["date"] for b in bars] == ["2026-12-04"] and bars[0]["close"] == 10.2
    older = {"price": 8, "ts": "2026-12-02T12:00:00+00:00"}
    assert with_session_bar(history, older) == history
    assert with_session_bar(history, None) == history
