"""Pages never fall back silently: an unknown symbol, watchlist or range says so (issue 16's "silent fallbacks")."""
from __future__ import annotations

import html
import re

from tests.conftest import csrf_token
from tests.portfolio.helpers import ok_txn


def _text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def test_an_unknown_symbol_says_so_and_offers_the_search(client, page_user):
    response = client.get("/stocks/NOPE.XX")
    assert response.status_code == 404
    text = _text(response)
    assert 'data-testid="unknown-symbol"' in response.get_data(as_text=True)
    assert "Unknown symbol “NOPE.XX”" in text
    assert 'role="search"' in text and 'value="NOPE.XX"' in text  # the search, with what was typed
    # A mistyped exchange suffix finds the stock it meant.
    response = client.get("/stocks/SAP.XX")
    assert response.status_code == 404
    assert 'href="/stocks/SAP.DE"' in response.get_data(as_text=True)


def test_a_watchlist_that_is_not_yours_is_not_replaced_by_another(client, page_user):
    headers = page_user["headers"]
    mine = client.post("/api/v1/watchlists", json={"name": "Tech"}, headers=headers).get_json()
    client.post(f"/api/v1/watchlists/{mine['id']}/items", json={"symbol": "AAPL"}, headers=headers)
    for wanted in ("99999", "abc"):
        response = client.get(f"/watchlist?id={wanted}")
        assert response.status_code == 404
        text = _text(response)
        assert f"There is no watchlist “{wanted}” among yours" in text
        assert "Choose one of your lists above." in text and "Tech" in text  # the lists, to choose from
        assert f'data-watchlist="{mine["id"]}"' not in text  # not silently the first list
    assert f'data-watchlist="{mine["id"]}"' in _text(client.get(f"/watchlist?id={mine['id']}"))
    assert 'data-watchlist="' in _text(client.get("/watchlist"))  # no id: the first list


def test_an_unknown_range_is_refused_visibly(client, page_user):
    response = client.get("/portfolio?range=zzz")
    assert response.status_code == 400
    assert "Unknown range “zzz”: showing 1Y." in _text(response)
    assert "Unknown range" not in _text(client.get("/portfolio?range=max"))


def test_choosing_a_benchmark_keeps_the_range_shown(client, page_user):
    ok_txn(client, page_user["headers"], "buy", "SAP.DE", "2", "100", "2024-03-01")  # the chart and its form show
    token = csrf_token(client, "/portfolio?range=max")
    response = client.post("/portfolio/benchmark", data={"benchmark": "DAX", "range": "max", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/portfolio?range=max")
    page = client.get("/portfolio?range=max").get_data(as_text=True)
    assert 'name="range" value="max"' in page  # the benchmark form carries the range
    response = client.post("/portfolio/benchmark", data={"benchmark": "DAX", "range": "bogus", "csrf_token": token})
    assert response.headers["Location"].endswith("/portfolio")  # an unknown one is not carried on
