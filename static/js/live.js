// Live updates: one Socket.IO connection to /live per page (the session cookie authenticates it).
// Subscribes to every [data-live-symbol] on the page, re-subscribes after a reconnect (Socket.IO
// reconnects by itself), flashes prices as they move, updates portfolio totals, shows fired
// alerts as toasts and the markets' state and the connection state in the navigation.
(function () {
  "use strict";
  if (typeof io !== "function") return;
  const state = document.querySelector("[data-live-state]");
  const market = document.querySelector("[data-market-state]");
  const toasts = document.getElementById("toasts");
  const markets = {};

  function symbols() {
    const seen = new Set();
    document.querySelectorAll("[data-live-symbol]").forEach(function (el) { seen.add(el.dataset.liveSymbol); });
    return Array.from(seen).slice(0, 100);
  }

  function setState(name, text) {
    if (!state) return;
    state.dataset.liveState = name;
    state.textContent = text;
    document.body.dataset.live = name;
  }

  const socket = io("/live", {transports: ["websocket", "polling"]});
  const T = window.tdT;
  setState("connecting", T("connecting"));

  socket.on("connect", function () {
    setState("live", T("live"));
    const wanted = symbols();
    if (wanted.length) socket.emit("subscribe", {symbols: wanted}, function (ack) {
      document.body.dataset.liveSubscribed = (ack && ack.subscribed || []).join(",");
    });
  });
  socket.on("disconnect", function () { setState("offline", T("reconnecting")); });
  socket.on("connect_error", function (err) {
    const data = err && err.data;
    setState("offline", T(data && data.code === "unauthorized" ? "offline_login" : "reconnecting"));
  });
  socket.on("error", function (err) { if (window.console) console.warn("live:", err.code, err.message); });

  // Numbers in the page's language (its <html lang>), as the server wrote them, never the browser's own.
  const LOCALE = document.documentElement.lang || "en";
  function fmt(n, digits) {
    return Number(n).toLocaleString(LOCALE, {minimumFractionDigits: digits, maximumFractionDigits: digits});
  }
  // A price as the server's `price` filter writes it: 2 decimals from 1 up, 4 below.
  function price(text) { const n = Number(text); return fmt(n, Math.abs(n) >= 1 ? 2 : 4); }
  function flash(el, up) {
    el.classList.remove("flash-up", "flash-down");
    void el.offsetWidth;  // restart the animation
    el.classList.add(up ? "flash-up" : "flash-down");
  }

  socket.on("quote", function (q) {
    document.dispatchEvent(new CustomEvent("td:quote", {detail: q}));  // the stock chart's last candle
    document.querySelectorAll('[data-live-symbol="' + CSS.escape(q.symbol) + '"]').forEach(function (row) {
      const price = row.querySelector('[data-field="price"]');
      if (price) {
        const before = parseFloat(price.dataset.value || price.textContent.replace(/[^0-9.\-]/g, ""));
        price.dataset.value = q.price;
        price.textContent = fmt(q.price, 2);
        flash(price, !(q.price < before));
      }
      const pct = row.querySelector('[data-field="change-pct"]');
      if (pct && q.change_pct !== null) pct.textContent = (q.change_pct >= 0 ? "+" : "") + fmt(q.change_pct, 2) + " %";
      const abs = row.querySelector('[data-field="change-abs"]');
      if (abs && q.change !== null) abs.textContent = (q.change >= 0 ? "+" : "") + fmt(q.change, 2);
      const change = row.querySelector('[data-field="change"]');
      if (change) { change.classList.toggle("up", q.change > 0); change.classList.toggle("down", q.change < 0); }
      // The day's range always holds the price (the provider's high and low, widened by this tick).
      const low = row.querySelector('[data-field="day-low"]');
      if (low && q.price !== null) low.textContent = fmt(Math.min(q.day_low === null ? q.price : q.day_low, q.price), 2);
      const high = row.querySelector('[data-field="day-high"]');
      if (high && q.price !== null) high.textContent = fmt(Math.max(q.day_high === null ? q.price : q.day_high, q.price), 2);
      if (!q.stale) row.querySelectorAll(".badge.stale").forEach(function (badge) { badge.remove(); });
      const ts = row.querySelector('[data-field="ts"]');
      if (ts && q.ts) ts.textContent = window.tdDay(q.ts) + " " + q.ts.slice(11, 16) + " UTC";
    });
  });

  function signed(n, digits) { return (n >= 0 ? "+" : "") + fmt(n, digits); }
  function direction(el, n) { el.classList.toggle("up", n > 0); el.classList.toggle("down", n < 0); }
  function setField(scope, name, value, text, colour) {
    scope.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) {
      if (value === null || value === undefined) return;
      el.textContent = text(value);
      if (colour) direction(colour(el), value);
    });
  }

  // Every figure that moves with a price: value, day change (and its %), P/L, and each holding's
  // value, unrealised P/L and weight, so none stays frozen while the value moves.
  socket.on("portfolio", function (p) {
    document.querySelectorAll("[data-portfolio-live]").forEach(function (box) {
      const value = box.querySelector('[data-field="portfolio-value"]');
      if (value && p.value !== null) {
        const before = parseFloat(value.dataset.value || "NaN");
        value.dataset.value = p.value;
        value.textContent = fmt(p.value, 2) + " " + p.base_currency;
        if (!isNaN(before) && before !== p.value) flash(value, p.value >= before);
      }
      setField(box, "portfolio-day-change", p.day_change, function (n) { return signed(n, 2); },
               function (el) { return el.closest('[data-field="portfolio-day"]') || el; });
      setField(box, "portfolio-day-change-pct", p.day_change_pct, function (n) { return signed(n, 2) + " %"; });
      setField(box, "portfolio-total-pl", p.total_pl, function (n) { return fmt(n, 2); }, function (el) { return el; });
      setField(box, "portfolio-unrealised", p.unrealised, function (n) { return fmt(n, 2); });
    });
    Object.keys(p.holdings || {}).forEach(function (symbol) {
      const h = p.holdings[symbol];
      document.querySelectorAll('[data-live-symbol="' + CSS.escape(symbol) + '"][data-holding]').forEach(function (row) {
        setField(row, "value", h.market_value_base, function (n) { return fmt(n, 2); });
        setField(row, "unrealised-value", h.unrealised_base, function (n) { return fmt(n, 2); },
                 function (el) { return el.closest('[data-field="unrealised"]') || el; });
        setField(row, "unrealised-pct", h.unrealised_pct, function (n) { return signed(n * 100, 2) + " %"; });
        setField(row, "weight", h.weight, function (n) { return fmt(n * 100, 2) + " %"; });
      });
    });
  });

  socket.on("alert", function (a) {
    if (!toasts) return;
    const toast = document.createElement("article");
    toast.className = "toast";
    toast.setAttribute("role", "alert");
    toast.dataset.testid = "toast";
    toast.textContent = T("alert_fired", {symbol: a.symbol, kind: T(a.kind), threshold: price(a.threshold),
                                          price: price(a.triggered_price)});
    toasts.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 15000);
  });

  let simulated = false;
  socket.on("market_status", function (s) {
    markets[s.exchange] = s.open;
    simulated = simulated || !!s.simulated;
    if (!market) return;
    const open = Object.keys(markets).filter(function (k) { return markets[k]; });
    if (simulated && !open.length) {
      // The demo market replays a session while the exchanges are closed: its prices do move.
      market.textContent = T("simulated_session");
      market.title = T("simulated_title");
      market.dataset.marketState = "simulated";
      return;
    }
    market.textContent = open.length ? T("open_at", {exchanges: open.join(", ")}) : T("markets_closed");
    market.dataset.marketState = open.length ? "open" : "closed";
  });
})();
