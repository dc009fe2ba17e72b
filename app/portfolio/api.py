"""The portfolio JSON API."""
from __future__ import annotations

from decimal import Decimal

from flask import Response
from flask_jwt_extended import current_user, jwt_required
from app.ops.apidoc import Blueprint

from app.portfolio import csvio, schemas, services

bp = Blueprint("portfolio_api", __name__, url_prefix="/api/v1/portfolio", description="Portfolio")


@bp.get("")
@jwt_required()
@bp.response(200, schemas.PortfolioSchema)
def portfolio():
    """Return the holdings valued now (one batch quote call) and the totals, in the base currency."""
    return services.portfolio(current_user)


@bp.get("/transactions")
@jwt_required()
@bp.response(200, schemas.TransactionSchema(many=True))
def list_transactions():
    """Return every transaction, oldest first."""
    return services.transactions(current_user.id)


@bp.post("/transactions")
@jwt_required()
@bp.arguments(schemas.TransactionSchema)
@bp.response(201, schemas.TransactionSchema)
def add_transaction(body):
    """Record a transaction; selling more than is held on that date is a 422 that says how many are."""
    return services.add_transactions(current_user.id, [_entry(body)])[0]


@bp.put("/transactions/<int:transaction_id>")
@jwt_required()
@bp.arguments(schemas.TransactionSchema)
@bp.response(200, schemas.TransactionSchema)
def update_transaction(body, transaction_id: int):
    """Replace a transaction; everything after it is recomputed and must stay valid."""
    return services.update_transaction(current_user.id, transaction_id, _entry(body))


@bp.delete("/transactions/<int:transaction_id>")
@jwt_required()
@bp.response(204)
def delete_transaction(transaction_id: int):
    """Delete a transaction (422 if a later sell depends on it)."""
    services.delete_transaction(current_user.id, transaction_id)


@bp.get("/splits")
@jwt_required()
@bp.arguments(schemas.SplitQuerySchema, location="query")
@bp.response(200, schemas.SplitListSchema)
def list_splits(query):
    """Return the stock splits applied to your portfolio (the providers' and your own), oldest first."""
    return services.splits(current_user.id, query.get("symbol"))


@bp.post("/splits")
@jwt_required()
@bp.arguments(schemas.SplitInSchema)
@bp.response(201, schemas.SplitSchema)
def add_split(body):
    """Enter a split the providers do not know (for your portfolio only); 422 if your ledger breaks with it."""
    return services.add_split(current_user.id, body["symbol"], body["ex_date"], body["ratio_from"], body["ratio_to"])


@bp.delete("/splits/<int:split_id>")
@jwt_required()
@bp.response(204)
def delete_split(split_id: int):
    """Delete a split you entered (a provider's cannot be deleted; 422 if a later sell needs it)."""
    services.delete_split(current_user.id, split_id)


@bp.get("/performance")
@jwt_required()
@bp.arguments(schemas.PerformanceArgs, location="query")
@bp.response(200, schemas.PerformanceSchema)
def performance(args):
    """Return the daily value series, TWR and money-weighted return per period, the benchmark, the monthly grid."""
    return services.performance(current_user, args["range"])


@bp.get("/dividends")
@jwt_required()
@bp.response(200, schemas.DividendsSchema)
def dividends():
    """Return the dividend inbox (paid, not booked: accept, edit or dismiss each) and the calendar with yield on cost."""
    return services.dividends(current_user)


@bp.post("/dividends/accept")
@jwt_required()
@bp.arguments(schemas.DividendAcceptSchema)
@bp.response(201, schemas.TransactionSchema)
def accept_dividend(body):
    """Book a proposed dividend as a transaction; give quantity, amount_per_share, date or fee to change it."""
    return services.accept_dividend(current_user, body["symbol"], body["ex_date"], body.get("quantity"),
                                    body.get("amount_per_share"), body.get("day"), body.get("fee") or Decimal(0))


@bp.post("/dividends/dismiss")
@jwt_required()
@bp.arguments(schemas.DividendDecisionSchema)
@bp.response(204)
def dismiss_dividend(body):
    """Dismiss a proposed dividend; it is not proposed again."""
    services.dismiss_dividend(current_user, body["symbol"], body["ex_date"])


@bp.get("/realised")
@jwt_required()
@bp.arguments(schemas.RealisedArgs, location="query")
@bp.response(200, schemas.RealisedSchema)
def realised(args):
    """Return realised gains by calendar year and each sale, by the account's cost basis method."""
    return services.realised(current_user, args["year"])


@bp.get("/realised.csv")
@jwt_required()
@bp.arguments(schemas.RealisedArgs, location="query")
@bp.doc(responses={"200": {"description": "One row a sale", "content": {"text/csv": {"schema": {"type": "string"}}}}})
def realised_csv(args):
    """Download the realised gains (of `year`, or all) as CSV, one row a sale."""
    name = f"realised-{args['year']}.csv" if args["year"] else "realised.csv"
    return Response(csvio.realised_csv(services.realised(current_user, args["year"])), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/allocation")
@jwt_required()
@bp.response(200, schemas.AllocationSchema)
def allocation():
    """Return the value split by holding, sector, country and currency."""
    return services.allocation(current_user)


@bp.post("/import")
@jwt_required()
@bp.doc(requestBody={"required": True, "description": "CSV in the export's format (see the README)", "content": {
    "text/csv": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}}}})
@bp.response(200, schemas.ImportResultSchema)
def import_csv():
    """Import transactions from CSV (a `file` upload or a text/csv body); all or nothing, no duplicates."""
    return services.import_transactions(current_user.id, *csvio.parse_csv(csvio.read_upload()))


@bp.get("/export.csv")
@jwt_required()
@bp.doc(responses={"200": {"description": "The transactions as CSV (the import's format)",
                           "content": {"text/csv": {"schema": {"type": "string"}}}}})
def export_csv():
    """Download every transaction as CSV, in the format the import reads."""
    return Response(csvio.export_csv(services.transactions(current_user.id)), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="transactions.csv"'})


def _entry(body: dict) -> services.TransactionIn:
    return services.TransactionIn(symbol=body["symbol"], kind=body["kind"], quantity=body["quantity"],
                                  price=body["price"], day=body["day"], fee=body.get("fee") or Decimal(0),
                                  currency=body.get("currency"), note=body.get("note"))
