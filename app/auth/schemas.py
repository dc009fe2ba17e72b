"""Request and response schemas of the auth API (they also generate its OpenAPI document)."""
from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from marshmallow import Schema, ValidationError, fields, validate

MIN_PASSWORD = 10
MAX_PASSWORD = 1024


def normalize_email(raw: Any) -> str:
    """Return the canonical (trimmed, lower-case, IDNA-normalised) email, or raise ValueError."""
    if not isinstance(raw, str) or len(raw) > 254:
        raise ValueError("Enter a valid email address.")
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError("Enter a valid email address.") from None


class NormalizedEmail(fields.String):
    """An email address, normalised on the way in."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Enter a valid email address (a string).")
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
    base_currency = fields.String(allow_none=True)
    created_at = fields.DateTime()


class TokensSchema(Schema):
    """A log-in's tokens."""

    access_token = fields.String(required=True)
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
