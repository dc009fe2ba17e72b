"""The channels' wire formats: the email message, the signed webhook POST, and webhook URL checks."""
from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import smtplib
import socket
import ssl
import time
from decimal import Decimal
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from babel.numbers import format_decimal
from flask_babel import get_locale, gettext

SIGNATURE_HEADER = "X-Tickerdesk-Signature"
TIMESTAMP_HEADER = "X-Tickerdesk-Timestamp"
MAX_URL_LENGTH = 2048
MAX_ERROR_LENGTH = 500


class DeliveryError(Exception):
    """Sending failed in a way that may pass: retry later."""


class PermanentDeliveryError(DeliveryError):
    """Sending can never work as configured (a refused address): do not retry."""


def message_for(fire: Any) -> tuple[str, str]:
    """Return the subject and plain-text body that describe one fire, in the current language
    (the delivery job sets the account's: `force_locale`)."""
    from app.ops.i18n import ALERT_KINDS  # noqa: PLC0415

    kind = str(ALERT_KINDS.get(fire.kind, fire.kind.replace("_", " ")))
    values = {"symbol": fire.symbol, "kind": kind, "threshold": _amount(fire.threshold),
              "price": _amount(fire.triggered_price)}
    subject = gettext("Tickerdesk alert: %(symbol)s %(kind)s %(threshold)s fired at %(price)s", **values)
    body = "\n".join([gettext("Your %(kind)s alert on %(symbol)s fired.", **values), "",
                      gettext("Threshold: %(threshold)s", **values), gettext("Price: %(price)s", **values),
                      gettext("Time: %(time)s UTC", time=fire.triggered_at.strftime("%Y-%m-%d %H:%M:%S")), "",
                      gettext("Re-arm it or change where alerts go on the Alerts page."), ""])
    return subject[:200], body


def _amount(value: Any) -> str:
    # As stored (every place kept), with the language's decimal mark and no grouping: 1000000, 101.5 / 101,5.
    return format_decimal(Decimal(str(value)), locale=str(get_locale() or "en"), group_separator=False,
                          decimal_quantization=False)


def webhook_payload(fire: Any, delivery_id: int, fmt: str) -> tuple[bytes, dict[str, str]]:
    """Return the body and content headers of a webhook POST: JSON, or ntfy-style plain text."""
    if fmt == "ntfy-text":
        subject, _ = message_for(fire)
        text = f"{fire.symbol} {fire.kind.replace('_', ' ')} {fire.threshold}: price {fire.triggered_price}"
        return text.encode(), {"Content-Type": "text/plain; charset=utf-8", "Title": subject.encode("ascii", "replace")
                               .decode(), "Tags": "chart_with_upwards_trend"}
    document = {"event": "alert.fired", "delivery_id": delivery_id,
                "alert": {"id": fire.alert_id, "symbol": fire.symbol, "kind": fire.kind,
                          "threshold": str(fire.threshold), "triggered_price": str(fire.triggered_price),
                          "triggered_at": fire.triggered_at.isoformat()}}
    return json.dumps(document, separators=(",", ":")).encode(), {"Content-Type": "application/json"}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the signature header value: HMAC-SHA256 over "<timestamp>.<raw body>"."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def post_webhook(url: str, secret: str, body: bytes, headers: dict[str, str], *, timeout_s: float,
                 allow_private: bool, require_https: bool) -> int:
    """POST the signed body to the URL (no redirects followed); return the status, raise DeliveryError on failure."""
    try:
        address = resolve_webhook_url(url, allow_private=allow_private, require_https=require_https)
    except ValueError as exc:
        raise PermanentDeliveryError(str(exc)) from None
    parts = urlsplit(url)
    timestamp = str(int(time.time()))
    all_headers = {**headers, "User-Agent": "Tickerdesk-Webhook/1", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(secret, timestamp, body)}
    # The connection goes to the address that was checked (None: private targets allowed), so a DNS
    # answer that changes between the check and the connect (rebinding) cannot point it inwards.
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPSConnection(parts.hostname, parts.port, address=address,
                                                                  timeout=timeout_s,
                                                                  context=ssl.create_default_context())
    else:
        conn = _PinnedHTTPConnection(parts.hostname, parts.port, address=address, timeout=timeout_s)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=all_headers)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]) from None
    finally:
        conn.close()
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status} from the webhook")
    return status


def send_email(cfg: Any, to: str, subject: str, body: str) -> None:
    """Send one plain-text email over the configured SMTP server; raise DeliveryError on failure."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = cfg["MAIL_FROM"], to, subject
    message.set_content(body)
    try:
        with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=cfg["SMTP_TIMEOUT_S"]) as smtp:
            if cfg["SMTP_STARTTLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if cfg["SMTP_USER"]:
                smtp.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"] or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentDeliveryError(f"recipient refused: {list(exc.recipients)}"[:MAX_ERROR_LENGTH]) from None
    except (OSError, smtplib.SMTPException) as exc:
        # SMTP errors may quote what was sent, never the password: only the type and the server's code.
        code = getattr(exc, "smtp_code", None)
        raise DeliveryError(f"{type(exc).__name__}{f' {code}' if code else ''}"[:MAX_ERROR_LENGTH]) from None


def check_webhook_url(url: str, *, allow_private: bool, require_https: bool) -> str:
    """Return the URL if a webhook may be sent to it, else raise ValueError saying why."""
    resolve_webhook_url(url, allow_private=allow_private, require_https=require_https)
    return url


def resolve_webhook_url(url: str, *, allow_private: bool, require_https: bool) -> str | None:
    """Return the address to connect to for the URL (None when private targets are allowed), or raise
    ValueError saying why a webhook may not be sent to it.

    Unless private targets are allowed (development, testing), the host is resolved and
    every address it resolves to must be public: no loopback, private, link-local,
    multicast, reserved or unspecified address (SSRF).
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise ValueError(gettext("Must be a URL of at most %(max)s characters.", max=MAX_URL_LENGTH))
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValueError(gettext("Must not contain spaces or control characters."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(gettext("Not a valid URL.")) from None
    schemes = ("https",) if require_https else ("http", "https")
    if parts.scheme not in schemes:
        raise ValueError(gettext("Must be an https:// URL.") if require_https else gettext("Must be an http:// or https:// URL."))
    if not parts.hostname:
        raise ValueError(gettext("Must name a host."))
    if parts.username is not None or parts.password is not None:
        raise ValueError(gettext("Must not contain a user name or password."))
    if parts.fragment:
        raise ValueError(gettext("Must not contain a #fragment."))
    if allow_private:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValueError(gettext("The host does not resolve.")) from None
    for info in infos:
        if not is_public_address(info[4][0]):
            raise ValueError(gettext("The host resolves to a private, loopback or reserved address."))
    if not infos:
        raise ValueError(gettext("The host does not resolve."))
    return infos[0][4][0]


class _Pinned:
    """Connects to a given address (if any), keeping the URL's host for the Host header and TLS."""

    address: str | None

    def __init__(self, host: str, port: int | None, *, address: str | None, **kwargs: Any) -> None:
        super().__init__(host, port, **kwargs)  # type: ignore[call-arg]
        self.address = address

    def connect(self) -> None:
        if self.address is None:
            super().connect()  # type: ignore[misc]
            return
        sock = socket.create_connection((self.address, self.port), self.timeout)  # type: ignore[attr-defined]
        context = getattr(self, "_context", None)  # HTTPS: the certificate is checked against the URL's host
        self.sock = context.wrap_socket(sock, server_hostname=self.host) if context else sock  # type: ignore


class _PinnedHTTPConnection(_Pinned, http.client.HTTPConnection):
    """An HTTP connection to the checked address."""


class _PinnedHTTPSConnection(_Pinned, http.client.HTTPSConnection):
    """An HTTPS connection to the checked address."""


def is_public_address(address: str) -> bool:
    """Return whether an IP address is a public unicast one (IPv4-mapped IPv6 judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or not ip.is_global)
