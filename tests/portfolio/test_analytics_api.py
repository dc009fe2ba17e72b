"""The analytics of the API: cost basis method, realised gains by year (JSON and CSV), risk, the return split."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from tests.portfolio.helpers import holdings, ok_txn

ME = "/api/v1/me"
REALISED = "/api/v1/portfolio/realised"


@pytest.fixture
def ledger(client, auth):
    h = auth["headers"]
    ok_txn(client, h, "buy", "SAP.DE", 10, 100, "2023-01-02")
    ok_txn(client, h, "buy", "SAP.DE", 10, 130, "2023-02-01")
    ok_txn(client, h, "sell", "SAP.DE", 10, 150, "2023-03-01", fee=5)
    ok_txn(client, h, "sell", "SAP.DE", 5, 90, "2024-04-02")
    return h


def test_the_cost_basis_method_changes_realised_gains_and_average_cost(client, ledger) -> None:
    fifo = client.get(REALISED, headers=ledger).get_json()
    assert fifo["method"] == "fifo"
    # FIFO: 2023 sells the 100s (1,495 - 1,000); 2024 sells 5 of the 130s (450 - 650).
    assert [(y["year"], y["gain"]) for y in fifo["years"]] == [(2023, "495.00"), (2024, "-200.00")]
    assert holdings(client, ledger)["SAP.DE"]["avg_cost"] == "130.0000"
    changed = client.patch(ME, headers=ledger, json={"cost_basis_method": "average"})
    assert changed.status_code == 200 and changed.get_json()["cost_basis_method"] == "average"
    average = client.get(REALISED, headers=ledger).get_json()
    # Average 115: 2023 1,495 - 1,150; 2024 450 - 575, and the 5 left keep 115 each.
    assert [(y["year"], y["gain"]) for y in average["years"]] == [(2023, "345.00"), (2024, "-125.00")]
    assert holdings(client, ledger)["SAP.DE"]["avg_cost"] == "115.0000"


def test_bad_settings_are_refused_with_the_field_named(client, auth) -> None:
    for body, field in (({"cost_basis_method": "lifo"}, "cost_basis_method"), ({"risk_free_rate": "5"}, "risk_free_rate"),
                        ({"risk_free_rate": "NaN"}, "risk_free_rate")):
        refused = client.patch(ME, headers=auth["headers"], json=body)
        assert refused.status_code in (400, 422), body
        assert field in str(refused.get_json()["error"]), refused.get_json()
    assert client.get(ME, headers=auth["headers"]).get_json()["cost_basis_method"] == "fifo"


def test_realised_of_one_year_and_its_csv(client, ledger) -> None:
    only = client.get(f"{REALISED}?year=2024", headers=ledger).get_json()
    assert [(s["date"], s["quantity"], s["gain"]) for s in only["sales"]] == [("2024-04-02", "5", "-200.00")]
    assert len(only["years"]) == 2  # the yearly totals stay complete
    download = client.get(f"{REALISED}.csv?year=2023", headers=ledger)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert 'filename="realised-2023.csv"' in download.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert rows == [{"date": "2023-03-01", "symbol": "SAP.DE", "quantity": "10", "currency": "EUR",
                     "proceeds": "1495.00", "cost": "1000.00", "gain": "495.00", "base_currency": "EUR",
                     "proceeds_base": "1495.00", "cost_base": "1000.00", "gain_base": "495.00", "cash_in_lieu": ""}]
    assert client.get(f"{REALISED}?year=abc", headers=ledger).status_code in (400, 422)
    assert client.get(f"{REALISED}?year=12", headers=ledger).status_code in (400, 422)


def test_the_return_split_adds_up_to_the_total_pl(client, ledger) -> None:
    ok_txn(client, ledger, "dividend", "SAP.DE", 1, "12.5", "2024-05-02")
    data = client.get("/api/v1/portfolio", headers=ledger).get_json()
    parts = data["totals"]["breakdown"]
    assert parts["dividends"] == "12.50" and Decimal(parts["fees"]) == 0
    total = sum(Decimal(parts[k]) for k in ("price", "dividends", "fx", "fees"))
    assert abs(total - Decimal(data["totals"]["total_pl"])) <= Decimal("0.02")
    assert Decimal(parts["fx"]) == 0  # EUR in EUR: no currency effect
    held = data["holdings"][0]["return_breakdown"]
    # The holding's price part is its realised (295) plus its unrealised P/L.
    assert Decimal(held["price"]) == pytest.approx(Decimal(295) + Decimal(data["holdings"][0]["unrealised_base"]),
                                                   abs=Decimal("0.02"))


def test_risk_figures_and_a_sharpe_ratio_at_the_users_rate_without_recomputing(client, ledger) -> None:
    first = client.get("/api/v1/portfolio/performance?range=max", headers=ledger).get_json()
    figures = first["risk"]
    assert first["status"] == "ready" and figures["risk_free_rate"] == 0
    assert figures["volatility"] > 0 and figures["days"] > 300
    drawdown = figures["max_drawdown"]
    assert drawdown["depth"] < 0 and drawdown["peak"] < drawdown["trough"]
    assert figures["sharpe"] == pytest.approx(figures["mean_return"] / figures["volatility"])
    assert client.patch(ME, headers=ledger, json={"risk_free_rate": "0.03"}).status_code == 200
    again = client.get("/api/v1/portfolio/performance?range=max", headers=ledger).get_json()
    assert again["computed_at"] == first["computed_at"]  # the rate is applied on read
    assert again["risk"]["risk_free_rate"] == 0.03
    assert again["risk"]["sharpe"] == pytest.approx((figures["mean_return"] - 0.03) / figures["volatility"])
