"""Fixtures of the delivery tests: a real SMTP server (aiosmtpd), a real webhook receiver, eager tasks."""
from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from app.alerts.services import evaluate
from app.notify import on_fired


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpInbox:
    """What the test's SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, SmtpInbox]]:
    """A real SMTP server on 127.0.0.1 (no TLS, no auth); stopped after the test."""
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


class WebhookReceiver:
    """A real HTTP server that records each POST and checks its signature against `secret`."""

    def __init__(self) -> None:
        self.secret = ""
        self.status = 200
        self.delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self.in_flight = self.max_in_flight = 0
        self.statuses: list[int] = []  # answered in turn before `status`, e.g. [500] fails the first POST
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                time.sleep(receiver.delay_s)
                with lock:
                    receiver.in_flight -= 1
                timestamp = self.headers.get("X-Tickerdesk-Timestamp", "")
                expected = "sha256=" + hmac.new(receiver.secret.encode(), timestamp.encode() + b"." + body,
                                                hashlib.sha256).hexdigest()
                signature = self.headers.get("X-Tickerdesk-Signature", "")
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "signature_ok": hmac.compare_digest(expected, signature)})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A local webhook receiver; shut down after the test."""
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def eager() -> Iterator[None]:
    """Run delivery tasks in-process as they are enqueued (retries included, without their countdown)."""
    from app.jobs.delivery import send_delivery

    conf = send_delivery.app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    # Not propagating: Celery's eager retry runs again only when the Retry is not re-raised.
    conf.task_always_eager, conf.task_eager_propagates = True, False
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def notify_app(make_app: Callable[..., Flask], tmp_path, eager) -> Callable[..., Flask]:
    """Build an app whose broker folder is the test's own, with fast retries."""

    def factory(**overrides: Any) -> Flask:
        settings = {"JOBS_DIR": str(tmp_path / "jobs"), "DELIVERY_RETRY_BASE_S": 0, "DELIVERY_MAX_ATTEMPTS": 3,
                    "WEBHOOK_TIMEOUT_S": 2}
        settings.update(overrides)
        return make_app(**settings)

    return factory


def fire(app: Flask, symbol: str, price: str) -> list[dict[str, Any]]:
    """Fire what the price meets and hand it to delivery, as the quotes job does (no connection, no page)."""
    with app.app_context():
        fired = evaluate({symbol: price})
        on_fired(fired)
    return fired
