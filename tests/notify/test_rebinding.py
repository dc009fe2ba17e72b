"""DNS rebinding: the webhook connection goes to the address the SSRF check approved, not to a second answer.

A hostile DNS server answers the check with a public address and the connection's own lookup
with 127.0.0.1, where (here) a real receiver listens. The POST must never reach it.
"""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from app.notify import channels

PUBLIC = "1.1.1.1"  # global unicast: passes the check; unreachable or silent on the webhook port here


def test_a_changing_dns_answer_cannot_point_the_webhook_inwards(webhook_receiver, monkeypatch) -> None:
    port = urlsplit(webhook_receiver.url).port
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host, *args, **kwargs):
        if host != "rebind.example":
            return real(host, *args, **kwargs)
        address = PUBLIC if not answers else "127.0.0.1"  # public for the check, loopback afterwards
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(channels.DeliveryError):
        channels.post_webhook(f"http://rebind.example:{port}/hook", "s" * 32, b"{}", {}, timeout_s=1.0,
                              allow_private=False, require_https=False)
    assert answers[0] == PUBLIC
    assert webhook_receiver.requests == [], "the POST followed the second DNS answer to 127.0.0.1"


def test_the_pinned_connection_still_sends_the_hosts_name(webhook_receiver) -> None:
    # Private targets allowed (development): no pin; the Host header is the URL's.
    url = webhook_receiver.url.replace("127.0.0.1", "localhost")
    assert channels.post_webhook(url, "s" * 32, b"{}", {}, timeout_s=5.0, allow_private=True,
                                 require_https=False) == 200
    [request] = webhook_receiver.requests
    assert request["headers"]["Host"].startswith("localhost:")
