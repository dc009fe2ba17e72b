"""Installable (issue 16): the web manifest, the service worker and the offline page."""
from __future__ import annotations

import struct

from tests.conftest import PASSWORD


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_manifest_names_the_app_and_its_icons(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200 and response.mimetype == "application/manifest+json"
    manifest = response.get_json(force=True)
    assert manifest["name"] == "Tickerdesk" and manifest["start_url"] == "/" and manifest["display"] == "standalone"
    sizes = set()
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200 and image.mimetype == "image/png", icon
        width, height = _png_size(image.data)
        assert icon["sizes"] == f"{width}x{height}", icon  # the size it says is the size it is
        sizes.add((width, icon["purpose"]))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes  # what Chromium asks of an installable app
    page = client.get("/login").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page


def test_the_service_worker_keeps_only_the_shell(client):
    response = client.get("/sw.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    script = response.get_data(as_text=True)
    assert "__SHELL__" not in script and "__VERSION__" not in script
    shell = script.split("const SHELL = ", 1)[1].split(";", 1)[0]
    import json

    urls = json.loads(shell)
    assert "/offline" in urls and "/static/css/app.css" in urls
    for url in urls:  # every file it keeps is there
        assert client.get(url).status_code == 200, url
    assert not any(u.startswith(("/api/", "/portfolio", "/watchlist", "/account")) for u in urls)


def test_the_offline_page_holds_nobody_s_data(client, page_user):
    page = client.get("/offline").get_data(as_text=True)
    assert 'data-testid="offline"' in page
    assert page_user["email"] not in page and "csrf" not in page.lower() and PASSWORD not in page
