"""The journey again as a German investor on a phone in the dark theme (390 x 844, de-DE, dark).

What differs from the English desktop journey (test_browser_flow.py) is what this one checks: the
menu that holds the navigation, pages that never scroll sideways, tables that reflow, the German
texts, dates and numbers (1.234,56) on the server and in live updates alike, comma decimals typed
into the forms, an error shown at the form, and the dark theme on the page and its charts.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.test_browser_flow import SYMBOL, WAIT_MS, Journey, run_journey

pytestmark = pytest.mark.slow
WIDTH = 390
GERMAN_NUMBER = r"-?\d{1,3}(?:\.\d{3})*,\d\d"  # 2.847,65


class PhoneJourney(Journey):
    """The journey's helpers, with the navigation behind the phone's menu button."""

    def nav(self, name: str) -> None:
        toggle = self.page.get_by_test_id("nav-toggle")
        expect(toggle).to_be_visible()
        menu = self.page.locator("#nav-menu")
        if not menu.is_visible():
            toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        with self.page.expect_navigation():
            menu.get_by_role("link", name=name, exact=True).click()

    def fits(self) -> None:
        """The page does not scroll sideways, and no table box does."""
        wide = self.page.evaluate("document.scrollingElement.scrollWidth")
        assert wide <= WIDTH, f"{self.page.url} is {wide} px wide at {WIDTH} px"
        boxes = self.page.evaluate("""() => Array.from(document.querySelectorAll('.overflow-auto'))
            .filter((b) => b.offsetParent !== null && b.scrollWidth > b.clientWidth + 1)
            .map((b) => b.innerHTML.slice(0, 300) + ' ' + b.scrollWidth + '>' + b.clientWidth)""")
        assert not boxes, f"{self.page.url}: table boxes scroll sideways: {boxes}"


def test_a_german_investor_on_a_phone_in_the_dark(browser, e2e_server, output_dir: Path) -> None:
    run_journey(browser, e2e_server, output_dir, _run, PhoneJourney, "de-phone",
                viewport={"width": WIDTH, "height": 844}, locale="de-DE", color_scheme="dark", is_mobile=True,
                has_touch=True)


def _run(j: PhoneJourney, email: str) -> None:
    page = j.page

    # Register in German; the dark theme follows the phone's setting.
    page.goto("/register")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Konto erstellen")).to_be_visible()
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Registrieren").click()
    j.flash("Ihr Konto ist eingerichtet")
    assert page.evaluate("window.tdIsDark()") is True
    j.live()
    j.fits()
    j.shot("de-phone-dashboard")

    # The navigation is folded into the menu: the links appear only when it is opened.
    expect(page.locator("#nav-menu").get_by_role("link", name="Depot", exact=True)).to_be_hidden()
    page.get_by_test_id("nav-toggle").click()
    expect(page.locator("#nav-menu").get_by_role("link", name="Depot", exact=True)).to_be_visible()
    j.shot("de-phone-menu")

    # Search from the menu: the suggestions stay on the screen.
    search = page.get_by_test_id("nav-search")
    search.press_sequentially("toyota", delay=40)
    choice = page.locator(f'#nav-suggestions a[data-symbol="{SYMBOL}"]')
    expect(choice).to_be_visible()
    box = page.locator("#nav-suggestions").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, f"suggestions off the screen: {box}"
    with page.expect_navigation():
        choice.click()

    # The stock page in German and dark: the chart themed, its summary and bar count in German.
    expect(page.get_by_test_id("chart")).to_have_attribute("data-drawn", re.compile(r"^[1-9]\d*$"))
    expect(page.get_by_test_id("chart")).to_have_attribute("data-theme", "dark")
    expect(page.locator("#chart-status")).to_contain_text("Tageskerzen")
    expect(page.get_by_test_id("chart-summary")).to_contain_text(re.compile(rf"{re.escape(SYMBOL)} über 1Y .* %"))
    price = page.get_by_test_id("quote").locator('[data-field="price"]')
    expect(price).to_have_text(re.compile(rf"^\s*{GERMAN_NUMBER}\s*$"))
    expect(page.get_by_test_id("forecast")).to_contain_text("Prognose")
    j.fits()
    j.shot("de-phone-stock")
    with page.expect_navigation():
        page.get_by_test_id("add-to-watchlist").click()
    j.flash(f"{SYMBOL} zur Watchlist hinzugefügt")

    # The watchlist reflows into cards; the live price changes and stays in German format.
    j.nav("Watchlist")
    row = page.locator(f'[data-testid="watchlist-table"] [data-live-symbol="{SYMBOL}"]')
    expect(row).to_be_visible()
    expect(page.get_by_test_id("watchlist-table")).to_have_attribute("data-reflow", "")
    live_price = row.locator('[data-field="price"]')
    j.live()
    before = live_price.inner_text()
    page.wait_for_function(
        """([symbol, before]) => {
             const el = document.querySelector('[data-live-symbol="' + symbol + '"] [data-field="price"]');
             return el && el.textContent.trim() !== before.trim();
           }""", arg=[SYMBOL, before], timeout=WAIT_MS)
    after = live_price.inner_text()
    for shown in (before, after):
        assert re.fullmatch(rf"\s*{GERMAN_NUMBER}\s*", shown), f"not in German format: {shown!r}"
    print(f"live price in German: {before} -> {after}")
    j.fits()
    j.shot("de-phone-watchlist")

    # A sale of more than is held is refused: the error is shown at the form, in German, in view.
    j.nav("Depot")
    form = page.get_by_test_id("transaction-form")
    form.locator("input[name=symbol]").fill(SYMBOL)
    form.locator("select[name=kind]").select_option("sell")
    form.locator("input[name=quantity]").fill("3")
    form.locator("input[name=price]").fill("2500,50")
    with page.expect_navigation():
        page.get_by_test_id("add-transaction").click()
    errors = page.get_by_test_id("form-errors")
    expect(errors).to_be_visible()
    expect(errors).to_be_in_viewport()
    expect(page.get_by_test_id("form-errors-top")).to_contain_text("nicht gespeichert")
    # The refused form comes back as a 422, which the browser logs; that one is expected.
    j.errors = [e for e in j.errors if not ("/portfolio/transactions" in e and "422" in e)]
    j.shot("de-phone-sell-refused")

    # A buy a month ago with comma decimals, as German investors type them.
    bought = date.today() - timedelta(days=30)
    form = page.get_by_test_id("transaction-form")
    form.locator("input[name=date]").fill(bought.isoformat())
    form.locator("input[name=symbol]").fill(SYMBOL)
    form.locator("select[name=kind]").select_option("buy")
    form.locator("input[name=quantity]").fill("10")
    form.locator("input[name=price]").fill("2500,50")
    form.locator("input[name=fee]").fill("5,25")
    with page.expect_navigation():
        page.get_by_test_id("add-transaction").click()
    j.flash(f"Kauf von {SYMBOL} erfasst")
    holdings = page.get_by_test_id("holdings")
    expect(holdings).to_have_attribute("data-reflow", "")
    expect(page.get_by_test_id("transactions")).to_contain_text(bought.strftime("%d.%m.%Y"))
    expect(page.get_by_test_id("transactions")).to_contain_text("2.500,5 JPY")  # as typed: "2500,50"
    value = page.get_by_test_id("totals").locator('[data-field="portfolio-value"]')
    expect(value).to_have_text(re.compile(rf"^\s*{GERMAN_NUMBER} EUR\s*$"))
    expect(page.get_by_test_id("performance-status")).to_have_count(0, timeout=60_000)
    expect(page.get_by_test_id("performance-chart")).to_have_attribute("data-drawn", "true")
    j.live()
    # The live value is written in German too.
    shown = value.inner_text()
    page.wait_for_function(
        """(before) => document.querySelector('[data-testid="totals"] [data-field="portfolio-value"]')
                         .textContent.trim() !== before.trim()""", arg=shown, timeout=WAIT_MS)
    assert re.fullmatch(rf"\s*{GERMAN_NUMBER} EUR\s*", value.inner_text()), value.inner_text()
    j.fits()
    j.shot("de-phone-portfolio")

    # An alert the demo market fires at once, its threshold typed with a comma: asked first, in German.
    j.nav("Kursalarme")
    form = page.get_by_test_id("alert-form")
    form.locator("input[name=symbol]").fill(SYMBOL)
    form.locator("select[name=kind]").select_option("above")
    form.locator("input[name=threshold]").fill("0,01")
    with page.expect_navigation():
        form.get_by_role("button", name="Kursalarm setzen").click()
    confirm = page.get_by_test_id("alert-confirm")
    expect(confirm).to_contain_text("Er würde sofort ausgelöst")
    with page.expect_navigation():
        confirm.get_by_role("button", name="Trotzdem setzen").click()
    j.flash("Kursalarm gesetzt")
    j.live()
    toast = page.locator("#toasts").get_by_test_id("toast").filter(has_text=SYMBOL)
    expect(toast.first).to_have_text(re.compile(rf"^Kursalarm: {re.escape(SYMBOL)} über 0,01\d* ausgelöst bei "
                                                rf"{GERMAN_NUMBER}\.$"), timeout=WAIT_MS)
    j.fits()
    j.shot("de-phone-alert")

    # Log out from the menu.
    page.get_by_test_id("nav-toggle").click()
    with page.expect_navigation():
        page.get_by_test_id("logout").click()
    j.flash("Sie sind abgemeldet")
    j.shot("de-phone-logged-out")
