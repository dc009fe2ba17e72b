"""Small request helpers shared by the portfolio tests."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask.testing import FlaskClient

TXN = "/api/v1/portfolio/transactions"


def txn(client: FlaskClient, headers: dict[str, str], kind: str, symbol: str, quantity: Any, price: Any,
        day: str, fee: Any = None, **extra: Any):
    """POST one transaction and return the response."""
    body = {"symbol": symbol, "kind": kind, "quantity": str(quantity), "price": str(price), "date": day, **extra}
    if fee is not None:
        body["fee"] = str(fee)
    return client.post(TXN, json=body, headers=headers)


def ok_txn(client: FlaskClient, headers: dict[str, str], kind: str, symbol: str, quantity: Any, price: Any,
           day: str, fee: Any = None, **extra: Any) -> dict[str, Any]:
    """POST one transaction that must be stored; return it."""
    response = txn(client, headers, kind, symbol, quantity, price, day, fee, **extra)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def holdings(client: FlaskClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Return the holdings of GET /api/v1/portfolio keyed by symbol."""
    response = client.get("/api/v1/portfolio", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {h["symbol"]: h for h in response.get_json()["holdings"]}


def transactions(client: FlaskClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Return every transaction of the user, oldest first."""
    response = client.get(TXN, headers=headers)
    assert response.status_code == 200
    return response.get_json()


def quote_price(client: FlaskClient, headers: dict[str, str], symbol: str) -> Decimal:
    """Return the current quote price, exactly as the services turn it into a Decimal."""
    response = client.get(f"/api/v1/stocks/{symbol}/quote", headers=headers)
    assert response.status_code == 200, response.get_json()
    return Decimal(str(response.get_json()["price"]))


def cents(value: Decimal) -> Decimal:
    """Round to the cent, half-even (as marshmallow's Decimal(places=2) does)."""
    return value.quantize(Decimal("0.01"))


def error(response) -> dict[str, Any]:
    """Return the `error` object of an API error response."""
    body = response.get_json()
    assert body and "error" in body, body
    return body["error"]
