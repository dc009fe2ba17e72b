"""Live sockets end with their log-in session, come only from the app's own pages, and are capped per user.

Real gunicorn + gevent processes sharing the real Redis and one SQLite file (tests/live/conftest.py).
"""
from __future__ import annotations

import re
import time

import pytest
import requests
import socketio

from tests.conftest import PASSWORD
from tests.live.conftest import Listener, api_user

pytestmark = pytest.mark.slow


def _browser(server, email: str) -> requests.Session:
    """A logged-in browser (cookies kept), remembered."""
    session = requests.Session()
    token = _csrf(session, f"{server.url}/login")
    response = session.post(f"{server.url}/login", data={"email": email, "password": PASSWORD, "remember": "y",
                                                          "csrf_token": token}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    return session


def _csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10).text
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def _cookie_header(session: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def _gone_within(listener: Listener, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not listener.client.connected:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"the socket was still connected {seconds} s after its session ended")


def _login_tokens(server, email: str) -> dict:
    tokens = requests.post(f"{server.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                           timeout=10).json()
    return {"token": tokens["access_token"], "headers": {"Authorization": f"Bearer {tokens['access_token']}"}}


def test_sockets_end_with_their_session_in_every_process(cluster, listeners) -> None:
    first, second = cluster.start(), cluster.start()
    user = api_user(first)
    browser = _browser(first, user["email"])
    cookie = _cookie_header(browser)
    other_login = _login_tokens(first, user["email"])
    # Sockets on the other process, opened with: the page session, the first API log-in, the second.
    by_cookie = Listener().connect(second, headers={"Cookie": cookie})
    by_remember = Listener().connect(second, headers={"Cookie": f"remember_token={browser.cookies['remember_token']}"})
    by_token = Listener().connect(second, token=user["token"])
    by_other = Listener().connect(second, token=other_login["token"])
    listeners.extend([by_cookie, by_remember, by_token, by_other])

    # The page logs out on the first process: both of its sockets on the second one end.
    token = _csrf(browser, f"{first.url}/account")
    assert browser.post(f"{first.url}/logout", data={"csrf_token": token}, allow_redirects=False,
                        timeout=10).status_code == 302
    took = max(_gone_within(by_cookie, 5), _gone_within(by_remember, 5))
    assert by_token.client.connected and by_other.client.connected, "other log-ins go on"
    # An API log-out ends its own socket only.
    assert requests.post(f"{first.url}/api/v1/auth/logout", headers=user["headers"], timeout=10).status_code == 200
    _gone_within(by_token, 5)
    assert by_other.client.connected
    # The captured cookie and token do not connect again.
    for kwargs in ({"headers": {"Cookie": cookie}}, {"token": user["token"]}):
        with pytest.raises(socketio.exceptions.ConnectionError):
            Listener().connect(second, **kwargs)
    # Erasing the account (fresh token, password) ends the last one.
    erased = requests.delete(f"{first.url}/api/v1/me", headers=other_login["headers"], json={"password": PASSWORD},
                             timeout=10)
    assert erased.status_code == 204
    _gone_within(by_other, 5)
    print(f"\n[live] a socket on another process ended {took:.2f} s after its page logged out")


def test_a_password_change_drops_the_sockets_of_other_sessions(cluster, listeners) -> None:
    server = cluster.start()
    user = api_user(server)
    on_token = Listener().connect(server, token=user["token"])
    listeners.append(on_token)
    browser = _browser(server, user["email"])
    token = _csrf(browser, f"{server.url}/account")
    changed = browser.post(f"{server.url}/account", allow_redirects=False, timeout=10, data={
        "pw-csrf_token": token, "action": "password", "pw-current_password": PASSWORD,
        "pw-new_password": "a brand new passphrase", "pw-confirm": "a brand new passphrase"})
    assert changed.status_code == 302
    _gone_within(on_token, 3)
    # The page that changed it keeps a (new) session, and can connect.
    listeners.append(Listener().connect(server, headers={"Cookie": _cookie_header(browser)}))


def _handshake(server, cookie: str, origin: str) -> str:
    """Open /live as a browser would (exactly one Origin header, the cookies); return the namespace's answer."""
    import websocket

    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
                                     origin=origin, cookie=cookie, timeout=10)
    try:
        assert ws.recv().startswith("0{")  # Engine.IO open
        ws.send("40/live,")
        return ws.recv()
    finally:
        ws.close()


def test_sockets_only_from_the_apps_own_pages(cluster) -> None:
    import websocket

    server = cluster.start()
    user = api_user(server)
    cookie = _cookie_header(_browser(server, user["email"]))
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{server.port}.evil.example",
                   f"https://127.0.0.1:{server.port}"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            _handshake(server, cookie, origin)
        assert refused.value.status_code == 400, origin
    assert _handshake(server, cookie, server.url).startswith("40/live,{\"sid\"")


def test_live_connections_are_capped_per_user(cluster, listeners) -> None:
    server = cluster.start(LIVE_MAX_PER_USER="2")
    user, other = api_user(server), api_user(server)
    listeners.extend(Listener().connect(server, token=user["token"]) for _ in range(2))
    refused = Listener()
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(server, token=user["token"])
    assert refused.wait_for("connect_error", 5)["data"]["code"] == "too_many_connections"
    listeners.append(Listener().connect(server, token=other["token"]))  # others are not affected
