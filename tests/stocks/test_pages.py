"""The research pages render through the test client with the demo market, and refuse bad input politely."""
from __future__ import annotations

import re

import pytest


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_pages_need_a_log_in(client) -> None:
    for path in ("/stocks?q=sap", "/stocks/SAP.DE", "/rankings", "/screener", "/stocks/suggest?q=sa"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_stock_page_shows_every_section(client, page_user) -> None:
    response = client.get("/stocks/sap.de")
    assert response.status_code == 200
    html = _text(response)
    for testid in ("quote", "chart", "fundamentals", "news", "score", "add-to-watchlist"):
        assert f'data-testid="{testid}"' in html, testid
    assert 'data-live-symbol="SAP.DE"' in html
    assert "simulated data" in html
    assert re.search(r'data-field="price">[0-9.,]+<', html), "the quote's price is on the page"
    assert "/static/vendor/" in html and "cdn" not in html.lower()  # self-hosted chart library


def test_unknown_stock_page_is_404(client, page_user) -> None:
    assert client.get("/stocks/NOPE.XX").status_code == 404


def test_chart_json_has_bars_and_indicators_and_refuses_bad_ranges(client, page_user) -> None:
    body = client.get("/stocks/SAP.DE/chart.json?range=6m").get_json()
    bars = body["history"]["bars"]
    assert len(bars) > 100
    indicators = body["indicators"]
    dates, wanted = [b["date"] for b in bars], indicators["dates"]
    if dates[-1] == wanted[-1]:
        assert wanted == dates[-len(wanted):]
    else:  # the quote's session, after the stored bars: a bar so far, with no indicators yet
        assert bars[-1]["partial"] and dates[-1] > wanted[-1] and wanted == dates[-len(wanted) - 1:-1]
    assert bars[-1]["close"] == body["quote"]["price"]  # the last candle agrees with the quote
    assert len(indicators["dates"]) > 100
    bad = client.get("/stocks/SAP.DE/chart.json?range=7y")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "validation_error"


def test_search_page_and_autocomplete(client, page_user) -> None:
    html = _text(client.get("/stocks?q=siemens"))
    assert "SIE.DE" in html
    exact = client.get("/stocks?q=sap.de")
    assert exact.status_code == 302 and exact.headers["Location"].endswith("/stocks/SAP.DE")
    results = client.get("/stocks/suggest?q=sap").get_json()["results"]
    assert results and results[0]["symbol"] == "SAP.DE" and len(results) <= 8
    assert client.get("/stocks/suggest?q=").get_json() == {"results": []}


def test_rankings_page_lists_the_dax_by_score(client, page_user) -> None:
    response = client.get("/rankings")
    assert response.status_code == 200
    html = _text(response)
    assert 'data-testid="rankings"' in html and "simulated data" in html
    scores = [float(s) for s in re.findall(r'<td class="num"><strong>([0-9.]+)</strong></td>', html)]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    assert html.count("/stocks/") >= 10


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("index=NOPE", "index"), ("limit=abc", "limit")])
def test_rankings_page_bad_input_is_a_form_message(client, page_user, query, field) -> None:
    response = client.get(f"/rankings?{query}")
    assert response.status_code == 400
    assert 'class="field-error"' in _text(response)


def test_screener_page_filters_and_keeps_the_query_in_links(client, page_user) -> None:
    response = client.get("/screener?index=DAX&pe_max=30&sort=score")
    assert response.status_code == 200
    html = _text(response)
    assert 'data-testid="screener"' in html
    assert "pe_max=30" in html  # sort links keep the filters
    bad = client.get("/screener?index=DAX&pe_max=lots")
    assert bad.status_code == 400 and 'class="field-error"' in _text(bad)
    assert 'value="lots"' in _text(bad)  # the user's input is kept in the form


@pytest.mark.parametrize("page", ["/rankings", "/screener"])
def test_one_choice_of_index_or_country(client, page_user, page) -> None:
    """The page sends one `scope`: after the default (DAX) a country alone is taken, not refused as both."""
    html = client.get(page).get_data(as_text=True)
    assert '<option value="index:DAX" selected>' in html and 'name="index"' not in html
    response = client.get(f"{page}?scope=country:Germany")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "not both" not in html and '<option value="country:Germany" selected>' in html
    assert '<option value="index:DAX" selected>' not in html
    assert client.get(f"{page}?country=Germany").status_code == 200  # links may still name one directly
    bad = client.get(f"{page}?scope=planet:Mars")
    assert bad.status_code == 400 and "Choose an index or a country from the list." in bad.get_data(as_text=True)


def test_screener_form_takes_percent_and_billions(client, page_user) -> None:
    """The form's dividend yield is in percent and its market cap in billions of US dollars; the API's
    are a fraction and dollars: the same filter through both gives the same stocks."""
    headers = page_user["headers"]
    api = client.get("/api/v1/screener?index=DAX&limit=500&dividend_yield_min=0.02&market_cap_min=50000000000",
                     headers=headers).get_json()
    expected = sorted(r["symbol"] for r in api["items"])
    assert 0 < len(expected) < 40  # the filter filters
    page = client.get("/screener?scope=index:DAX&limit=500&dividend_yield_pct=2&market_cap_bn=50")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    body = html[html.index('data-testid="screener"'):]
    assert sorted(set(re.findall(r'href="/stocks/([^"]+)"', body))) == expected
    assert 'name="dividend_yield_pct" step="any" value="2"' in html  # shown as typed
    assert "dividend_yield_pct=2" in body or "dividend_yield_pct=2" in html  # the sort links keep the units
    for query, field, message in (("dividend_yield_pct=lots", "dividend_yield_pct", "Enter a number."),
                                  ("dividend_yield_pct=150", "dividend_yield_pct", "Must be between 0 and 100 (%)."),
                                  ("market_cap_bn=-1", "market_cap_bn", "Must be 0 or more.")):
        bad = client.get(f"/screener?scope=index:DAX&{query}")
        assert bad.status_code == 400
        assert message in bad.get_data(as_text=True), query
