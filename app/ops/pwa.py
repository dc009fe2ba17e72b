"""Installable app (PWA): the web manifest, the service worker and the offline page.

The service worker is served from /sw.js so that its scope is the whole site. It keeps the shell
(the offline page, the stylesheets, scripts and icons) in a cache named after a digest of those
files, so a deploy that changes one replaces the cache; static files are then answered from the
cache and refreshed behind it. Pages are always fetched from the network (they hold a person's
figures, which are never stored on the device); without a network a page is the offline page.
API calls and live updates are never cached.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, url_for
from flask_babel import gettext

bp = Blueprint("pwa", __name__)

SHELL = ("css/app.css", "vendor/pico/pico.min.css", "js/early.js", "js/app.js", "favicon.svg",
         "icons/icon-192.png", "icons/icon-512.png")
THEME_COLOUR = "#0172ad"


@bp.get("/manifest.webmanifest")
def manifest():
    """The web manifest: what Chromium needs to offer "Install"."""
    icon = lambda name, size, purpose: {"src": url_for("static", filename=f"icons/{name}-{size}.png"),  # noqa: E731
                                       "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}
    body = {
        "id": "/", "name": "Tickerdesk", "short_name": "Tickerdesk",
        "description": gettext("Stock research and portfolio tracking you host yourself."),
        "start_url": "/", "scope": "/", "display": "standalone", "background_color": "#ffffff",
        "theme_color": THEME_COLOUR,
        "icons": [icon("icon", 192, "any"), icon("icon", 512, "any"),
                  icon("maskable", 192, "maskable"), icon("maskable", 512, "maskable")],
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json",
                    headers={"Cache-Control": "no-cache"})


@bp.get("/sw.js")
def service_worker():
    """The service worker, with the shell to keep and the cache's version filled in."""
    shell = [url_for("pwa.offline")] + [url_for("static", filename=name) for name in SHELL]
    script = (Path(current_app.static_folder) / "js" / "sw.js").read_text(encoding="utf-8")
    script = script.replace('"__SHELL__"', json.dumps(shell)).replace("__VERSION__", shell_version())
    # no-cache: the browser checks for a new worker on every visit, so a deploy reaches it at once.
    return Response(script, mimetype="text/javascript",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


@bp.get("/offline")
def offline():
    """Shown by the service worker when a page cannot be fetched: nobody's data, only what to do."""
    return render_template("offline.html")


def shell_version() -> str:
    """A digest of the shell's files (and the worker itself): a new one whenever a deploy changes any."""
    return _digest(current_app.static_folder)


@lru_cache(maxsize=4)
def _digest(static_folder: str) -> str:
    digest = hashlib.sha256()
    for name in (*SHELL, "js/sw.js"):
        digest.update(name.encode())
        digest.update((Path(static_folder) / name).read_bytes())
    return digest.hexdigest()[:16]
