"""Request and response schemas of the auth API (they also generate its OpenAPI document)."""
from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from app.analysis.portfolio import COST_BASIS_METHODS
from app.analysis.risk import MAX_RISK_FREE_RATE
from app.ops.apidoc import DecimalString
from app.universe import INDEX_NAMES

MIN_PASSWORD = 10
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "SEK")  # the base currencies a user can choose
MAX_PASSWORD = 1024


def normalize_email(raw: Any) -> str:
    """Return the canonical (trimmed, lower-case, IDNA-normalised) email, or raise ValueError."""
    if not isinstance(raw, str) or len(raw) > 254:
        raise ValueError(gettext("Enter a valid email address."))
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError(gettext("Enter a valid email address.")) from None


class NormalizedEmail(fields.String):
    """An email address, normalised on the way in."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(gettext("Enter a valid email address (a string)."))
        try:
            return normalize_email(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class CredentialsSchema(Schema):
    """Email and password."""

    email = NormalizedEmail(required=True, metadata={"format": "email", "example": "ada@example.com"})
    password = fields.String(required=True, validate=validate.Length(max=MAX_PASSWORD))


class RegisterSchema(CredentialsSchema):
    """A new account's email and password (at least 10 characters)."""

    password = fields.String(required=True, validate=validate.Length(
        min=MIN_PASSWORD, max=MAX_PASSWORD,
        error=f"The password must be between {MIN_PASSWORD} and {MAX_PASSWORD} characters long."))


class UserSchema(Schema):
    """An account as the API shows it."""

    id = fields.Integer()
    email = fields.String()
    is_admin = fields.Boolean()
    base_currency = fields.String(allow_none=True, metadata={
        "description": "the chosen base currency; null: the server's default (BASE_CURRENCY)"})
    benchmark = fields.String(allow_none=True, metadata={
        "description": "the index the portfolio is compared with; null: by base currency (DAX for EUR, S&P 500 for USD)"})
    risk_free_rate = DecimalString(allow_none=True, metadata={
        "description": "the Sharpe ratio's risk-free rate, a fraction a year (0.02 = 2 %); null: 0"})
    cost_basis_method = fields.String(metadata={"description": "fifo or average (moving average cost)"})
    created_at = fields.DateTime()


class SettingsSchema(Schema):
    """Account settings a PATCH may change (at least one)."""

    base_currency = fields.String(allow_none=True, validate=validate.OneOf(CURRENCIES), metadata={
        "description": "values and P/L are shown in this currency; null: the server's default"})
    benchmark = fields.String(allow_none=True, validate=validate.OneOf(INDEX_NAMES), metadata={
        "description": "the index the portfolio's performance is compared with; null: by base currency"})
    risk_free_rate = fields.Float(allow_none=True, allow_nan=False, validate=validate.Range(
        min=-MAX_RISK_FREE_RATE, max=MAX_RISK_FREE_RATE, error="Give a yearly rate as a fraction between "
        f"-{MAX_RISK_FREE_RATE} and {MAX_RISK_FREE_RATE} (0.02 is 2 %)."), metadata={
        "description": "the Sharpe ratio's risk-free rate, a fraction a year (0.02 = 2 %); null: 0"})
    cost_basis_method = fields.String(validate=validate.OneOf(COST_BASIS_METHODS), metadata={
        "description": "fifo: a sale takes the oldest lots first; average: at the moving average cost"})

    @pre_load
    def _upper_case_currency(self, data: Any, **_kw: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("base_currency"), str):
            data = {**data, "base_currency": data["base_currency"].strip().upper()}
        return data

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_kw: Any) -> None:
        if not data:
            raise ValidationError("Give at least one of: base_currency, benchmark, risk_free_rate, "
                                  "cost_basis_method.", "_schema")


class TokensSchema(Schema):
    """A log-in's tokens."""

    access_token = fields.String(required=True)
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class LogoutSchema(Schema):
    """What a log-out revoked."""

    revoked = fields.Boolean()
    token_type = fields.String(metadata={"description": "access or refresh"})


class LogoutAllSchema(Schema):
    """What "log out everywhere" ended."""

    sessions_ended = fields.Integer(metadata={"description": "log-in sessions ended (this one included)"})


class DeleteAccountSchema(Schema):
    """Erasing an account needs its password (and a fresh access token, from a log-in)."""

    password = fields.String(required=True, validate=validate.Length(max=MAX_PASSWORD))


class _ExportAccount(Schema):
    id = fields.Integer()
    email = fields.String()
    created_at = fields.String()
    base_currency = fields.String(allow_none=True)
    benchmark = fields.String(allow_none=True)


class _ExportItem(Schema):
    symbol = fields.String()
    position = fields.Integer()
    added_at = fields.String()


class _ExportWatchlist(Schema):
    id = fields.Integer()
    name = fields.String()
    position = fields.Integer()
    items = fields.List(fields.Nested(_ExportItem))


class _ExportTransaction(Schema):
    id = fields.Integer()
    symbol = fields.String()
    kind = fields.String()
    quantity = fields.String()
    price = fields.String()
    fee = fields.String()
    currency = fields.String()
    date = fields.String()
    note = fields.String(allow_none=True)


class _ExportAlert(Schema):
    id = fields.Integer()
    symbol = fields.String()
    kind = fields.String()
    threshold = fields.String(allow_none=True)
    threshold_pct = fields.String(allow_none=True)
    active = fields.Boolean()
    triggered_at = fields.String(allow_none=True)
    triggered_price = fields.String(allow_none=True)


class _ExportEvent(Schema):
    kind = fields.String()
    created_at = fields.String()
    ip = fields.String(allow_none=True)


class _ExportWebhook(Schema):
    id = fields.Integer()
    url = fields.String()
    format = fields.String()
    created_at = fields.String()


class _ExportNotifications(Schema):
    email_enabled = fields.Boolean(allow_none=True)
    email_address = fields.String(allow_none=True)
    webhook_enabled = fields.Boolean(allow_none=True)
    webhooks = fields.List(fields.Nested(_ExportWebhook))


class _ExportDelivery(Schema):
    channel = fields.String()
    target = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    sent_at = fields.String(allow_none=True)


class _ExportFire(Schema):
    alert_id = fields.Integer(allow_none=True)
    symbol = fields.String()
    kind = fields.String()
    threshold = fields.String()
    triggered_price = fields.String()
    triggered_at = fields.String()
    deliveries = fields.List(fields.Nested(_ExportDelivery))


class ExportSchema(Schema):
    """Everything the user created (GET /api/v1/me/export)."""

    account = fields.Nested(_ExportAccount)
    watchlists = fields.List(fields.Nested(_ExportWatchlist))
    transactions = fields.List(fields.Nested(_ExportTransaction))
    alerts = fields.List(fields.Nested(_ExportAlert))
    audit_events = fields.List(fields.Nested(_ExportEvent))
    notifications = fields.Nested(_ExportNotifications)
    alert_fires = fields.List(fields.Nested(_ExportFire))
