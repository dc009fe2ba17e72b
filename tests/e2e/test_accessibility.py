"""Every page through axe-core in Chromium, in both themes and both languages: no serious or critical
violation (issue 16). The same walk records each page's first contentful paint and the JS+CSS it
loads (gzip), into build/test-output/e2e/page-weights.txt and the test's output.

Pages are read as a user with a holding, a watchlist and an alert, so the tables, charts and
cards that need data are drawn.
"""
from __future__ import annotations

import gzip
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.live.conftest import LiveServer

WAIT_MS = 20_000
PAGES = ("/", "/stocks/SAP.DE", "/stocks?q=siemens", "/watchlist", "/portfolio", "/alerts", "/rankings",
         "/screener", "/research/backtest?index=BEL+20&from=2024-01-01", "/account")
VISITOR_PAGES = ("/login", "/register", "/offline")
# Pages whose main part a worker computes on the first visit (503 "being computed" meanwhile): checked
# in that state on the first pass, and computed on the others.
COMPUTED = {"/stocks/SAP.DE": "fan-chart", "/research/backtest?index=BEL+20&from=2024-01-01": "backtest-result"}
BAD = ("serious", "critical")
SHOTS = ("/", "/stocks/SAP.DE", "/portfolio")


def _user(server: LiveServer) -> str:
    email = f"a11y-{uuid.uuid4().hex[:8]}@example.com"
    assert requests.post(f"{server.url}/api/v1/auth/register", json={"email": email, "password": PASSWORD},
                         timeout=10).status_code == 201
    token = requests.post(f"{server.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                          timeout=10).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    day = (date.today() - timedelta(days=40)).isoformat()
    assert requests.post(f"{server.url}/api/v1/portfolio/transactions", headers=h, timeout=10, json={
        "symbol": "SAP.DE", "kind": "buy", "quantity": "10", "price": "150", "date": day}).status_code == 201
    first = requests.get(f"{server.url}/api/v1/watchlists", headers=h, timeout=10).json()[0]
    requests.post(f"{server.url}/api/v1/watchlists/{first['id']}/items", headers=h, timeout=10,
                  json={"symbol": "SAP.DE"}).raise_for_status()
    requests.post(f"{server.url}/api/v1/alerts", headers=h, timeout=10,
                  json={"symbol": "SAP.DE", "kind": "below", "threshold": "1"}).raise_for_status()
    return email


def _log_in(page, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()


def _settle(page) -> None:
    page.wait_for_load_state("load")
    if page.locator('[data-testid="chart"]').count():
        expect(page.get_by_test_id("chart")).to_have_attribute("data-drawn", __import__("re").compile(r"^\d+$"),
                                                              timeout=WAIT_MS)


def _weights(page) -> tuple[float | None, int]:
    """First contentful paint (ms) and the gzip size of the JS and CSS the page loaded."""
    fcp = page.evaluate("""() => new Promise((done) => {
        new PerformanceObserver((list) => {
          const entry = list.getEntriesByName('first-contentful-paint')[0];
          if (entry) done(entry.startTime);
        }).observe({type: 'paint', buffered: true});
        setTimeout(() => done(null), 3000);
      })""")
    urls = page.evaluate("() => performance.getEntriesByType('resource').map((r) => r.name)"
                         ".filter((u) => /\\.(js|css)(\\?|$)/.test(u))")
    urls += page.evaluate("() => Array.from(document.querySelectorAll('script[src], link[rel=stylesheet]'))"
                          ".map((e) => e.src || e.href)")
    total = 0
    for url in sorted(set(urls)):
        total += len(gzip.compress(requests.get(url, timeout=10).content, 6))
    return fcp, total


@pytest.mark.research_jobs  # the stock page's forecast and the backtest page, once computed, are checked too
def test_every_page_is_accessible_in_both_themes_and_languages(browser, e2e_server, output_dir: Path) -> None:
    axe = Axe()
    email = _user(e2e_server)
    problems: list[str] = []
    weights: dict[str, tuple[float | None, int]] = {}
    # Desktop in both languages and themes, and a phone in German (the longer words) and dark.
    combos = [(locale, scheme, 1280) for locale in ("en-US", "de-DE") for scheme in ("light", "dark")]
    for locale, scheme, width in [*combos, ("de-DE", "dark", 390)]:
        context = browser.new_context(base_url=e2e_server.url, locale=locale, color_scheme=scheme,
                                      viewport={"width": width, "height": 900 if width > 400 else 844})
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        try:
            for path in (*VISITOR_PAGES, "LOGIN", *PAGES):
                if path == "LOGIN":
                    _log_in(page, email)
                    continue
                page.goto(path)
                _settle(page)
                if (locale, scheme) != combos[0][:2] and path in COMPUTED:  # by now the worker has computed it
                    for _ in range(60):
                        if page.get_by_test_id(COMPUTED[path]).count():
                            break
                        page.wait_for_timeout(1000)
                        page.reload()
                        _settle(page)
                    expect(page.get_by_test_id(COMPUTED[path])).to_be_visible()
                assert page.locator("html").get_attribute("lang") == locale[:2], path
                if width < 400:  # no page scrolls sideways on a phone, in German either
                    wide = page.evaluate("document.scrollingElement.scrollWidth")
                    if wide > width:
                        problems.append(f"{locale} {scheme} {path}: {wide} px wide at {width} px")
                    # Nor does a table inside its box: tables reflow or drop low-priority columns.
                    boxes = page.evaluate("""() => Array.from(document.querySelectorAll('.overflow-auto'))
                        .filter((b) => b.offsetParent !== null && b.scrollWidth > b.clientWidth + 1)
                        .map((b) => (b.querySelector('[data-testid]') || b).getAttribute('data-testid')
                                    + ' ' + b.scrollWidth + '>' + b.clientWidth)""")
                    problems.extend(f"{locale} {scheme} {path}: a table scrolls sideways: {box}" for box in boxes)
                if (locale, scheme) == ("en-US", "light"):
                    weights[path] = _weights(page)
                if path in SHOTS:  # kept with the journey's screenshots, in every theme and language
                    name = path.strip("/").replace("/", "-").replace("?", "-") or "dashboard"
                    page.screenshot(path=str(output_dir / f"a11y-{locale}-{scheme}-{width}-{name}.png"),
                                    full_page=True)
                for violation in axe.run(page).response["violations"]:
                    if violation["impact"] in BAD:
                        targets = [n["target"] for n in violation["nodes"]][:3]
                        problems.append(f"{locale} {scheme} {width} {path}: {violation['id']} ({violation['impact']}) "
                                        f"{violation['help']} at {targets}")
        finally:
            context.close()
    lines = [f"{path:20} FCP {fcp or 0:7.0f} ms   JS+CSS {size / 1024:7.1f} KiB gzip"
             for path, (fcp, size) in weights.items()]
    (output_dir / "page-weights.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(["page weights (demo market, en, light):", *lines]))
    assert not problems, "\n".join(problems)
