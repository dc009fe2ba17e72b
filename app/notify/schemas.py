"""Request and response schemas of the notification settings and the alert history."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate

from app.auth.schemas import NormalizedEmail
from app.models.notify import DELIVERY_STATUSES, WEBHOOK_FORMATS
from app.notify.channels import MAX_URL_LENGTH
from app.ops.apidoc import DecimalString

CHANNEL_NAMES = ("live", "email", "webhook")
MAX_WEBHOOKS_DOCUMENTED = 3


class WebhookSchema(Schema):
    """A webhook: give `id` to keep an existing one (and its secret); `secret` is shown only when made."""

    id = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=2**31 - 1),
                        metadata={"description": "an existing webhook's id; omitted: a new webhook"})
    url = fields.String(required=True, validate=validate.Length(
                            min=1, max=MAX_URL_LENGTH, error=_l("Must be a URL of at most %(max)s characters.",
                                                                max=MAX_URL_LENGTH)),
                        metadata={"example": "https://ntfy.sh/my-topic"})
    format = fields.String(load_default="json", validate=validate.OneOf(
        WEBHOOK_FORMATS, error=_l("Must be one of: %(choices)s.", choices=", ".join(WEBHOOK_FORMATS))))
    regenerate_secret = fields.Boolean(load_default=False, load_only=True)
    secret = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "the signing secret: only in the answer that created or regenerated it"})
    created_at = fields.DateTime(dump_only=True)


class WebhookField(fields.Field):
    """One webhook, checked by WebhookSchema and documented inline (a nested $ref in a request body
    is bundled by OpenAPI tools into forms that not every client resolves)."""

    def __init__(self, **kwargs: Any) -> None:
        properties = {"id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1, "nullable": True},
                      "url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": MAX_URL_LENGTH,
                              "description": "http(s) without user or password; production: https to a "
                                             "public address only"},
                      "format": {"type": "string", "enum": list(WEBHOOK_FORMATS), "default": "json"},
                      "regenerate_secret": {"type": "boolean", "default": False, "writeOnly": True},
                      "secret": {"type": "string", "nullable": True, "readOnly": True},
                      "created_at": {"type": "string", "format": "date-time", "readOnly": True}}
        metadata = {"type": "object", "properties": properties, "required": ["url"],
                    "additionalProperties": False, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return WebhookSchema().dump(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            raise ValidationError(gettext("Must be an object."))
        return WebhookSchema().load(value)


class NotificationSettingsSchema(Schema):
    """Where fired alerts go by default: live always, email and webhooks when chosen."""

    channels = fields.List(fields.String(validate=validate.OneOf(CHANNEL_NAMES)), required=True,
                           validate=validate.Length(max=len(CHANNEL_NAMES)),
                           metadata={"description": "the default channels; live is always on"})
    email_address = NormalizedEmail(load_default=None, allow_none=True, validate=validate.Length(max=254),
                                    metadata={"description": "null: the account's email", "format": "email"})
    effective_email = fields.String(dump_only=True, metadata={"description": "where emails go"})
    webhooks = fields.List(WebhookField(), load_default=list,
                           validate=validate.Length(max=MAX_WEBHOOKS_DOCUMENTED))
    smtp_configured = fields.Boolean(dump_only=True, metadata={
        "description": "false: emails land in the outbox (GET /api/v1/alerts/outbox)"})


class AlertChannelsSchema(Schema):
    """One alert's channels; null follows the account's default."""

    email = fields.Boolean(load_default=None, allow_none=True)
    webhook = fields.Boolean(load_default=None, allow_none=True)


class DeliverySchema(Schema):
    """One delivery of a fire on one channel."""

    id = fields.Integer()
    channel = fields.String()
    target = fields.String(metadata={"description": "the email address or webhook URL"})
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    via = fields.String(allow_none=True, metadata={"description": "email: smtp or outbox"})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class FireSchema(Schema):
    """One firing of an alert, with its deliveries."""

    id = fields.Integer()
    alert_id = fields.Integer(allow_none=True, metadata={"description": "null once the alert is deleted"})
    symbol = fields.String()
    kind = fields.String()
    threshold = DecimalString()
    triggered_price = DecimalString()
    triggered_at = fields.DateTime()
    deliveries = fields.List(fields.Nested(DeliverySchema))


class PageQuerySchema(Schema):
    """Paging of the history: newest first, `before` an id from the last page."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    before = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))


class AlertHistorySchema(Schema):
    """A page of fires, newest first; `next_before` pages on (null: no more)."""

    items = fields.List(fields.Nested(FireSchema))
    next_before = fields.Integer(allow_none=True)


class OutboxItemSchema(Schema):
    """An email kept in the outbox (no SMTP configured)."""

    id = fields.Integer()
    fire_id = fields.Integer()
    to = fields.String(attribute="target")
    subject = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class OutboxSchema(Schema):
    """A page of outbox emails, newest first."""

    items = fields.List(fields.Nested(OutboxItemSchema))
    next_before = fields.Integer(allow_none=True)
