"""The batch quote limit: at most 50 distinct symbols, counted after duplicates are folded.

Mutation testing found that `>` turned into `>=`, or counting the entries before folding
duplicates, passed the suite: only 51 distinct symbols were tried.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Stock
from app.stocks.services import MAX_BATCH


@pytest.fixture
def symbols(app) -> list[str]:
    """MAX_BATCH + 1 symbols of the universe."""
    with app.app_context():
        found = list(db.session.scalars(select(Stock.symbol).where(Stock.symbol.not_like("%,%"))
                                        .order_by(Stock.symbol).limit(MAX_BATCH + 1)))
    assert len(found) == MAX_BATCH + 1
    return found


def _batch(client, auth, method: str, wanted: list[str]):
    if method == "get":
        return client.get("/api/v1/stocks/batch", query_string={"symbols": ",".join(wanted)}, headers=auth["headers"])
    return client.post("/api/v1/stocks/batch", json={"symbols": wanted}, headers=auth["headers"])


@pytest.mark.parametrize("method", ["get", "post"])
def test_exactly_the_limit_is_accepted_and_one_more_refused(client, auth, symbols, method) -> None:
    assert MAX_BATCH == 50
    full = _batch(client, auth, method, symbols[:MAX_BATCH])
    assert full.status_code == 200, full.get_json()
    body = full.get_json()
    assert len(body["quotes"]) + len(body["errors"]) == MAX_BATCH
    over = _batch(client, auth, method, symbols)
    assert over.status_code == 400
    error = over.get_json()["error"]
    assert error["code"] == "validation_error" and "symbols" in error["details"]["fields"]
    assert "51 were given" in error["message"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_duplicates_are_folded_before_counting(client, auth, symbols, method) -> None:
    distinct = symbols[:MAX_BATCH]
    # 60 entries: the 50 symbols, then ten of them again (in another case and with spaces).
    wanted = distinct + [f" {s.lower()} " for s in distinct[:10]]
    response = _batch(client, auth, method, wanted)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert sorted([*body["quotes"], *body["errors"]]) == sorted(distinct)
    over = _batch(client, auth, method, symbols + distinct[:10])
    assert over.status_code == 400 and "51 were given" in over.get_json()["error"]["message"]
