"""The logged-in navigation on a phone (390 x 844) folds into a menu, no page scrolls sideways there;
at 1440 px the navigation is one row, and the app is installable and has an offline page.

Before: at 390 px the navigation was 972 px wide and everything after "Wa…" needed sideways scrolling.
"""
from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.conftest import PASSWORD

WAIT_MS = 15_000


def _register(page) -> None:
    page.goto("/register")
    page.fill("input[name=email]", f"nav-{uuid.uuid4().hex[:8]}@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Register").click()


def _page_width(page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")


def test_the_navigation_folds_into_a_menu_on_a_phone(browser, e2e_server) -> None:
    context = browser.new_context(base_url=e2e_server.url, viewport={"width": 390, "height": 844}, locale="en-US")
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        _register(page)
        toggle = page.get_by_test_id("nav-toggle")
        expect(toggle).to_be_visible()
        expect(page.locator("#nav-menu")).to_be_hidden()
        assert page.locator(".site-header nav").bounding_box()["width"] <= 390
        assert _page_width(page) <= 390, "the dashboard scrolls sideways"
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        portfolio = page.locator("#nav-menu").get_by_role("link", name="Portfolio")
        expect(portfolio).to_be_visible()
        for name in ("Watchlist", "Alerts", "Rankings", "Screener", "Account"):  # every link, none off screen
            box = page.locator("#nav-menu").get_by_role("link", name=name).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, name
        assert page.get_by_test_id("logout").bounding_box()["x"] + page.get_by_test_id("logout").bounding_box()["width"] <= 390
        assert _page_width(page) <= 390, "the open menu scrolls sideways"
        with page.expect_navigation():
            portfolio.click()
        expect(page.get_by_role("heading", name="Portfolio", exact=True)).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#nav-menu")).to_be_hidden()
        # No page scrolls sideways at 390 px: wide tables scroll inside their own box.
        for path in ("/", "/stocks/SAP.DE", "/watchlist", "/portfolio", "/alerts", "/rankings", "/screener",
                     "/account", "/stocks?q=siemens"):
            page.goto(path)
            assert _page_width(page) <= 390, f"{path} is {_page_width(page)} px wide at 390 px"
        # The search suggestions stay on the screen.
        page.get_by_test_id("nav-toggle").click()
        page.get_by_test_id("nav-search").press_sequentially("deutsche", delay=20)
        expect(page.locator("#nav-suggestions")).to_be_visible()
        box = page.locator("#nav-suggestions").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, f"suggestions off screen: {box}"
    finally:
        context.close()

    wide = browser.new_context(base_url=e2e_server.url, viewport={"width": 1440, "height": 900}, locale="en-US")
    wide.set_default_timeout(WAIT_MS)
    page = wide.new_page()
    try:
        _register(page)
        expect(page.get_by_test_id("nav-toggle")).to_be_hidden()
        expect(page.locator("#nav-menu").get_by_role("link", name="Screener")).to_be_visible()
        logout = page.get_by_test_id("logout").bounding_box()
        assert logout["height"] < 2.2 * 16 + 12, f"Log out wraps: {logout}"  # one line of text plus padding
        # Installable: Chromium finds nothing missing, and with the service worker in charge a page
        # without a network is the offline page (never a cached page of someone's figures).
        assert page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.active.state)") == "activated"
        cdp = wide.new_cdp_session(page)
        errors = [e["errorId"] for e in cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]]
        # A Playwright context is incognito, which Chromium never installs from: that one is the browser's.
        assert [e for e in errors if e != "in-incognito"] == [], errors
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [] and manifest["url"].endswith("/manifest.webmanifest"), manifest["errors"]
        page.reload()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        wide.set_offline(True)
        page.goto("/portfolio")
        expect(page.get_by_test_id("offline")).to_be_visible()
        wide.set_offline(False)
        page.goto("/portfolio")
        expect(page.get_by_role("heading", name="Portfolio", exact=True)).to_be_visible()
    finally:
        wide.close()
