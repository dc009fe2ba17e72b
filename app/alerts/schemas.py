"""Request and response schemas of the alerts API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.alerts.services import KINDS
from app.ops.apidoc import DecimalString
from app.portfolio.amounts import Amount


class AlertSchema(Schema):
    """An alert; `threshold` is a price in the stock's currency."""

    id = fields.Integer(dump_only=True)
    symbol = fields.String(required=True, validate=validate.Length(min=1, max=24))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    threshold = Amount(load_default=None, allow_none=True, validate=validate.Range(min=0, min_inclusive=False))
    threshold_pct = Amount(load_default=None, allow_none=True,
                           metadata={"description": "stop_loss/take_profit only: % from average cost"})
    active = fields.Boolean(dump_only=True)
    triggered_at = fields.DateTime(dump_only=True, allow_none=True)
    triggered_price = DecimalString(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
