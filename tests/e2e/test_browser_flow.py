"""One user's whole journey in a real browser against a real server with the demo market.

register → log out → log in → search with autocomplete → the stock page (its chart has drawn)
→ add it to the watchlist → a live price change on the watchlist → buy it on the portfolio
page → the holding, its value and both charts → an alert the demo market fires → its toast →
log out (a protected page now asks to log in). A full-page screenshot of every page goes to
build/test-output/e2e/NN-name.png.

7203.T (Toyota, in yen) moves at nearly every demo tick, so the live steps do not wait long.
"""
from __future__ import annotations

import re
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from playwright.sync_api import ConsoleMessage, Error, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PASSWORD
from tests.e2e.conftest import METRICS_TOKEN

pytestmark = pytest.mark.slow

SYMBOL = "7203.T"
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)

# Reads a canvas's pixels and counts its distinct colours (sampled on a grid, alpha included):
# a blank canvas has one, a drawn chart many. Returns the canvas size too.
CANVAS_COLOURS = """(canvas) => {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  if (!ctx || !w || !h) return {width: w, height: h, colours: 0};
  const data = ctx.getImageData(0, 0, w, h).data;
  const seen = new Set();
  const step = Math.max(1, Math.floor(Math.sqrt((w * h) / 40000)));
  for (let y = 0; y < h; y += step) {
    for (let x = 0; x < w; x += step) {
      const i = (y * w + x) * 4;
      seen.add((data[i] << 24 | data[i + 1] << 16 | data[i + 2] << 8 | data[i + 3]) >>> 0);
      if (seen.size > 64) return {width: w, height: h, colours: seen.size};
    }
  }
  return {width: w, height: h, colours: seen.size};
}"""


class Journey:
    """The page, the screenshots taken so far and the browser errors seen."""

    def __init__(self, page: Page, output: Path) -> None:
        self.page, self.output = page, output
        self.shots: list[Path] = []
        self.errors: list[str] = []
        self.watch(page)

    def watch(self, page: Page) -> None:
        """Record the page's console errors and uncaught exceptions."""
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(f"console.error on {page.url}: {message.text} ({message.location})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror on {page.url}: {exc}"))

    def shot(self, name: str, page: Page | None = None) -> Path:
        path = self.output / f"{len(self.shots) + 1:02d}-{name}.png"
        (page or self.page).screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        print(f"e2e screenshot: {path}")
        return path

    def nav(self, name: str) -> None:
        """Follow a link of the navigation bar."""
        with self.page.expect_navigation():
            self.page.locator("header nav").get_by_role("link", name=name, exact=True).click()

    def live(self, page: Page | None = None) -> None:
        """Wait until live.js has its Socket.IO connection (and its subscriptions acknowledged)."""
        page = page or self.page
        expect(page.get_by_test_id("live-state")).to_have_attribute("data-live-state", "live", timeout=WAIT_MS)
        if page.locator("[data-live-symbol]").count():
            page.wait_for_function("() => document.body.dataset.liveSubscribed !== undefined",
                                        timeout=WAIT_MS)

    def flash(self, text: str | re.Pattern[str]) -> None:
        expect(self.page.locator("article.flash").filter(has_text=text)).to_be_visible(timeout=WAIT_MS)

    def canvas_drawn(self, selector: str, min_colours: int = 4) -> dict:
        """Assert the canvas has a size and more than a background's colours; return what was measured."""
        canvas = self.page.locator(selector)
        expect(canvas).to_be_visible(timeout=WAIT_MS)
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:  # a chart draws on the next animation frame after its data arrives
            found = canvas.evaluate(CANVAS_COLOURS)
            if found["width"] > 0 and found["height"] > 0 and found["colours"] >= min_colours:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{selector} looks blank: {found}")
            self.page.wait_for_timeout(100)


def run_journey(browser, server, output_dir: Path, steps, journey_class=None, name: str = "", **context) -> None:
    """Run `steps(journey, email)` in a fresh browser context; on a failure keep a screenshot and the
    server log's tail; at the end, no browser error may have been reported."""
    email = f"e2e-{name or 'en'}-{uuid.uuid4().hex[:8]}@example.com"
    browser_context = browser.new_context(base_url=server.url, timezone_id="UTC", **context)
    browser_context.set_default_timeout(WAIT_MS)
    page = browser_context.new_page()
    journey = (journey_class or Journey)(page, output_dir)
    try:
        steps(journey, email)
    except (AssertionError, Error):
        try:
            journey.shot(f"{name}-failure" if name else "failure")
        except Error:
            pass
        print(f"failed on {page.url}; server log (tail):\n{server.log()[-6000:]}")
        raise
    finally:
        browser_context.close()
    assert not journey.errors, "the browser reported errors:\n" + "\n".join(journey.errors)


def test_browser_journey(browser, e2e_server, output_dir: Path) -> None:
    started = time.monotonic()
    run_journey(browser, e2e_server, output_dir, _run, viewport={"width": 1280, "height": 900}, locale="en-US")
    _check_metrics(e2e_server, output_dir)
    print(f"e2e journey took {time.monotonic() - started:.1f} s; screenshots in {output_dir}")


def _run(j: Journey, email: str) -> None:
    page = j.page

    # Register: the account is created and logged in, and lands on the dashboard.
    page.goto("/register")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    j.shot("register")
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Register").click()
    j.flash("Your account is ready")
    expect(page.get_by_test_id("logout")).to_be_visible()
    j.live()
    j.shot("dashboard-registered")

    # Log out, then log in through the form.
    with page.expect_navigation():
        page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    j.shot("login")
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("logout")).to_be_visible()
    j.live()
    j.shot("dashboard")

    # Search with autocomplete: type, wait for the suggestions, pick Toyota.
    search = page.get_by_test_id("nav-search")
    search.click()
    search.press_sequentially("toyota", delay=40)
    suggestions = page.locator("#nav-suggestions")
    expect(suggestions).to_be_visible()
    choice = suggestions.locator(f'a[data-symbol="{SYMBOL}"]')
    expect(choice).to_be_visible()
    options = suggestions.get_by_role("option")
    if options.count() > 1:  # a list, one below the other (not laid out as a row like the nav's links)
        first, second = options.nth(0).bounding_box(), options.nth(1).bounding_box()
        assert second["y"] >= first["y"] + first["height"] - 1, f"suggestions side by side: {first}, {second}"
    j.shot("search-suggestions")
    # The keyboard: ArrowDown moves through the suggestions (focus stays in the box), Escape closes them.
    search.press("ArrowDown")
    expect(search).to_have_attribute("aria-activedescendant", "suggestion-0")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(search).to_be_focused()
    search.press("Escape")
    expect(suggestions).to_be_hidden()
    expect(search).to_have_attribute("aria-expanded", "false")
    # Nothing fits: a line says so.
    search.fill("")
    search.press_sequentially("qqxqqz", delay=20)
    expect(suggestions.get_by_test_id("no-matches")).to_be_visible()
    # Enter opens the suggestion chosen with the arrows.
    search.fill("")
    search.press_sequentially("toyota", delay=40)
    expect(choice).to_be_visible()
    position = [o.get_attribute("data-symbol") for o in options.all()].index(SYMBOL)
    for _ in range(position + 1):
        search.press("ArrowDown")
    with page.expect_navigation():
        search.press("Enter")
    expect(page).to_have_url(re.compile(rf"/stocks/{re.escape(SYMBOL)}$"))

    # The stock page: quote, and the candlestick chart has drawn.
    expect(page.get_by_role("heading", level=1)).to_contain_text(SYMBOL)
    expect(page.get_by_test_id("quote").locator('[data-field="price"]')).not_to_be_empty()
    expect(page.get_by_test_id("chart")).to_have_attribute("data-drawn", re.compile(r"^[1-9]\d*$"))
    expect(page.locator("#chart-status")).to_contain_text("daily bars")
    chart = j.canvas_drawn('[data-testid="chart"] canvas >> nth=0', min_colours=8)
    print(f"stock chart canvas: {chart}")
    # Every pane readable: price, volume (its own scale), RSI and MACD (the RSI pane was about 20 px).
    heights = page.get_by_test_id("chart").evaluate("(el) => el.chart.panes().map((p) => p.getHeight())")
    print(f"chart pane heights: {heights}")
    assert len(heights) == 4 and heights[0] >= 300 and min(heights[1:]) >= 90, heights
    # The last candle is the quote's session, and its close the price the quote card shows.
    stamped = page.get_by_test_id("quote").locator('[data-field="ts"]').get_attribute("datetime")
    quote_day = datetime.fromisoformat(stamped).astimezone(timezone.utc).date()
    if quote_day.weekday() < 5:
        expect(page.get_by_test_id("chart")).to_have_attribute("data-last-date", quote_day.isoformat())
    page.wait_for_function(
        """() => { const el = document.querySelector('[data-testid="chart"]');
                   const shown = document.querySelector('[data-testid="quote"] [data-field="price"]').textContent;
                   const close = el.candles.data().at(-1).close;
                   return Math.abs(close - parseFloat(shown.replace(/,/g, ""))) < 0.006; }""", timeout=WAIT_MS)
    # The legend shows the day under the cursor: O/H/L/C, volume and the indicators.
    box = page.get_by_test_id("chart").bounding_box()
    for share in (0.45, 0.5):  # hover() scrolls it into view first; two moves make a crosshair move
        page.get_by_test_id("chart").hover(position={"x": box["width"] * share, "y": box["height"] * 0.3})
    legend = page.get_by_test_id("chart-legend")
    for part in ("O ", "H ", "L ", "C ", "Vol ", "RSI ", "MACD "):
        expect(legend).to_contain_text(part)
    hovered = legend.get_attribute("data-date")
    assert hovered and hovered < page.get_by_test_id("chart").get_attribute("data-last-date"), hovered
    # The chart's text alternative: the range's change in words.
    expect(page.get_by_test_id("chart-summary")).to_contain_text(re.compile(rf"{re.escape(SYMBOL)} over 1Y .*%"))
    j.live()
    j.shot("stock")
    # Dark mode: the toggle switches the page and the chart at once.
    page.get_by_test_id("theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.get_by_test_id("chart")).to_have_attribute("data-theme", "dark")
    j.shot("stock-dark")
    page.get_by_test_id("theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(page.get_by_test_id("chart")).to_have_attribute("data-theme", "light")

    # Add it to the watchlist (the form returns to the stock page).
    with page.expect_navigation():
        page.get_by_test_id("add-to-watchlist").click()
    j.flash(f"{SYMBOL} added to the watchlist")
    j.live()

    # The watchlist: the row is there and its price changes live.
    j.nav("Watchlist")
    row = page.locator(f'[data-testid="watchlist-table"] [data-live-symbol="{SYMBOL}"]')
    expect(row).to_be_visible()
    price = row.locator('[data-field="price"]')
    expect(price).not_to_be_empty()
    j.live()
    before = price.inner_text()
    page.wait_for_function(
        """([symbol, before]) => {
             const el = document.querySelector('[data-live-symbol="' + symbol + '"] [data-field="price"]');
             return el && el.textContent.trim() !== before.trim();
           }""", arg=[SYMBOL, before], timeout=WAIT_MS)
    after = price.inner_text()
    print(f"live price of {SYMBOL}: {before} -> {after}")
    # The day's range moves with the price: it holds every price shown.
    low, now, high = (float(row.locator(f'[data-field="{f}"]').inner_text().replace(",", ""))
                      for f in ("day-low", "price", "day-high"))
    assert low <= now <= high, f"price {now} outside the day range {low} – {high}"
    j.shot("watchlist-live")

    # Buy it on the portfolio page, a month ago (so the performance chart has a line to draw).
    j.nav("Portfolio")
    form = page.get_by_test_id("transaction-form")
    expect(form.locator("input[name=date]")).to_have_value(date.today().isoformat())
    bought = date.today() - timedelta(days=30)
    form.locator("input[name=date]").fill(bought.isoformat())
    form.locator("input[name=symbol]").fill(SYMBOL)
    form.locator("select[name=kind]").select_option("buy")
    form.locator("input[name=quantity]").fill("10")
    form.locator("input[name=price]").fill("2500")
    form.locator("input[name=fee]").fill("5")
    with page.expect_navigation():
        page.get_by_test_id("add-transaction").click()
    j.flash(f"Buy of {SYMBOL} recorded")

    # The portfolio: the holding, the total value, the allocation doughnut and the performance chart.
    holding = page.get_by_test_id("holdings").locator(f'[data-live-symbol="{SYMBOL}"]')
    expect(holding).to_be_visible()
    expect(holding.locator("td").nth(1)).to_have_text("10")
    expect(holding.locator('[data-field="value"]')).to_have_text(re.compile(r"^\s*[1-9][\d,]*\.\d\d\s*$"))
    value = page.get_by_test_id("totals").locator('[data-field="portfolio-value"]')
    expect(value).to_have_text(re.compile(r"^\s*[\d,]+\.\d\d EUR\s*$"))  # as live.js writes it too
    value_text = value.inner_text().strip()
    amount = float(value_text.split()[0].replace(",", ""))
    assert amount > 0, f"the portfolio value is {value_text!r}"
    expect(page.get_by_test_id("transactions")).to_contain_text(bought.isoformat())
    # The worker computes the performance; the page says so, and shows it when it is ready.
    expect(page.get_by_test_id("performance-status")).to_have_count(0, timeout=60_000)
    expect(page.get_by_test_id("performance-chart")).to_have_attribute("data-drawn", "true")
    # Points per line, and each line's last day (the benchmark must span the range).
    points, last = page.get_by_test_id("performance-chart").evaluate(
        """(el) => [[el.series.portfolio.length, el.series.benchmark.length],
                   [el.series.portfolio.at(-1).time, el.series.benchmark.at(-1).time]]""")
    assert points[0] >= 2, f"the performance chart has no line to draw: {points} points"
    assert points[1] >= 2 and date.fromisoformat(last[1]) >= date.fromisoformat(last[0]) - timedelta(days=4), \
        f"the benchmark line stops early: {points} points, last {last}"
    print(f"performance-chart: {j.canvas_drawn('[data-testid=performance-chart] canvas >> nth=0', min_colours=3)}")
    # The allocation doughnut (drawn on the server): the one holding, all of it; the tabs switch the grouping.
    slices = page.get_by_test_id("allocation-chart").locator("figure:not([hidden]) path[data-slice]")
    assert [slices.nth(i).get_attribute("data-slice") for i in range(slices.count())] == [SYMBOL]
    page.locator("[data-allocation-by=currency]").click()
    expect(page.locator("[data-allocation-group=currency]")).to_be_visible()
    expect(page.locator("[data-allocation-group=holding]")).to_be_hidden()
    j.live()
    # The day change's % moves with the value (it stayed frozen while the value moved).
    pct = page.get_by_test_id("totals").locator('[data-field="portfolio-day-change-pct"]')
    pct_before = pct.inner_text()
    page.wait_for_function(
        """(before) => document.querySelector('[data-testid="totals"] [data-field="portfolio-day-change-pct"]')
                         .textContent.trim() !== before.trim()""", arg=pct_before, timeout=WAIT_MS)
    print(f"portfolio day change: {pct_before} -> {pct.inner_text()}")
    print(f"portfolio value: {value_text}; performance chart points {points}")
    j.shot("portfolio")
    # The dashboard has it too, with the markets, the movers and the top of the benchmark index.
    j.nav("Tickerdesk")
    expect(page.get_by_test_id("dash-portfolio").locator('[data-field="portfolio-value"]')).to_have_text(
        re.compile(r"^\s*[\d,]+\.\d\d EUR\s*$"))
    expect(page.get_by_test_id("dash-movers").locator(f'[data-live-symbol="{SYMBOL}"]')).to_be_visible()
    expect(page.get_by_test_id("dash-markets").locator("li")).not_to_have_count(0)
    j.shot("dashboard-with-holdings")
    j.nav("Portfolio")

    # A second tab stays on the portfolio with its live connection, to get the alert's toast live.
    other = page.context.new_page()
    j.watch(other)
    other.goto("/portfolio")
    j.live(other)

    # An alert the demo market fires at once (every price is above 0.01).
    j.nav("Alerts")
    form = page.get_by_test_id("alert-form")
    form.locator("input[name=symbol]").fill(SYMBOL)
    form.locator("select[name=kind]").select_option("above")
    form.locator("input[name=threshold]").fill("0.01")
    with page.expect_navigation():
        form.get_by_role("button", name="Set alert").click()
    # It would fire at once: the page says so, with the price, and asks first.
    confirm = page.get_by_test_id("alert-confirm")
    expect(confirm).to_contain_text(re.compile(rf"{re.escape(SYMBOL)} is at [\d,.]+, already at or above .* it would fire at once"))
    with page.expect_navigation():
        confirm.get_by_role("button", name="Set it anyway").click()
    j.flash("Alert set")
    # Whichever fires it first tells the user: this page load (a toast rendered with the page, and
    # the same `alert` event to the user's live pages) or the streamer's next tick (the event only).
    here = page.locator("#toasts").get_by_test_id("toast").filter(has_text=SYMBOL)
    if here.count():
        expect(here.first).to_have_text(re.compile(rf"^Alert: {re.escape(SYMBOL)} above 0\.01\d* fired at [\d,]+\.\d\d\.$"))
        print(f"the alerts page fired the alert: {here.first.inner_text()}")
    else:
        print("the streamer fired the alert (its tick came before the alerts page's check)")
    j.live()
    j.shot("alert-set")

    # The other tab shows it as a toast, delivered over Socket.IO.
    toast = other.locator("#toasts").get_by_test_id("toast").filter(has_text=SYMBOL)
    expect(toast.first).to_be_visible(timeout=WAIT_MS)
    expect(toast.first).to_have_text(re.compile(rf"^Alert: {re.escape(SYMBOL)} above 0\.01\d* fired at [\d,]+\.\d\d\.$"))
    print(f"live toast: {toast.first.inner_text()}")
    j.shot("portfolio-alert-toast", other)
    other.close()

    # The alerts page lists it as fired, at a price.
    page.reload()
    status = page.get_by_test_id("alerts").locator("tbody tr").first.locator("td").nth(3)
    expect(status).to_have_text(re.compile(r"^\s*fired\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC at [\d,]+\.\d\d\s*$"))
    j.live()

    # Log out through the navigation; a protected page now sends you to the log-in form.
    with page.expect_navigation():
        page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    j.flash("You are logged out")
    expect(page.get_by_test_id("logout")).to_have_count(0)
    page.goto("/portfolio")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fportfolio$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    j.shot("logged-out")


def _check_metrics(server, output_dir: Path) -> None:
    """After the journey, /metrics shows every listed series with the journey's traffic in it."""
    scraped = requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                           timeout=10)
    assert scraped.status_code == 200
    names = {sample.name: sample for family in text_string_to_metric_families(scraped.text)
             for sample in family.samples}
    for series in ("tickerdesk_http_requests_total", "tickerdesk_http_request_duration_seconds_bucket",
                   "tickerdesk_cache_requests_total", "tickerdesk_provider_calls_total",
                   "tickerdesk_provider_latency_seconds_bucket", "tickerdesk_provider_circuit_state",
                   "tickerdesk_websocket_connections", "tickerdesk_websocket_connects_total",
                   "tickerdesk_streamer_ticks_total", "tickerdesk_streamer_events_total"):
        assert series in names, f"{series} missing from /metrics"
    assert names["tickerdesk_streamer_ticks_total"].value > 0
    saved = output_dir / "metrics.txt"
    saved.write_text(scraped.text)
    print(f"metrics after the journey: {saved}")
