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
  setState("connecting", "connecting…");

  socket.on("connect", function () {
    setState("live", "live");
    const wanted = symbols();
    if (wanted.length) socket.emit("subscribe", {symbols: wanted}, function (ack) {
      document.body.dataset.liveSubscribed = (ack && ack.subscribed || []).join(",");
    });
  });
  socket.on("disconnect", function () { setState("offline", "reconnecting…"); });
  socket.on("connect_error", function (err) {
    const data = err && err.data;
    setState("offline", data && data.code === "unauthorized" ? "offline (log in)" : "reconnecting…");
  });
  socket.on("error", function (err) { if (window.console) console.warn("live:", err.code, err.message); });

  // Numbers in the page's language (its <html lang>), as the server wrote them, never the browser's own.
  const LOCALE = document.documentElement.lang || "en";
  function fmt(n, digits) {
    return Number(n).toLocaleString(LOCALE, {minimumFractionDigits: digits, maximumFractionDigits: digits});
  }
  function flash(el, up) {
    el.classList.remove("flash-up", "flash-down");
    void el.offsetWidth;  // restart the animation
    el.classList.add(up ? "flash-up" : "flash-down");
  }

  socket.on("quote", function (q) {
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
      const ts = row.querySelector('[data-field="ts"]');
      if (ts && q.ts) ts.textContent = q.ts.slice(0, 16).replace("T", " ") + " UTC";
    });
  });

  socket.on("portfolio", function (p) {
    const box = document.querySelector("[data-portfolio-live]");
    if (!box) return;
    const value = box.querySelector('[data-field="portfolio-value"]');
    if (value && p.value !== null) {
      const before = parseFloat(value.dataset.value || "NaN");
      value.dataset.value = p.value;
      value.textContent = fmt(p.value, 2) + " " + p.base_currency;
      if (!isNaN(before)) flash(value, p.value >= before);
    }
    const day = box.querySelector('[data-field="portfolio-day-change"]');
    if (day && p.day_change !== null) day.textContent = (p.day_change >= 0 ? "+" : "") + fmt(p.day_change, 2);
    Object.keys(p.holdings || {}).forEach(function (symbol) {
      const cell = document.querySelector('[data-live-symbol="' + CSS.escape(symbol) + '"] [data-field="value"]');
      const h = p.holdings[symbol];
      if (cell && h.market_value_base !== null) cell.textContent = fmt(h.market_value_base, 2);
    });
  });

  socket.on("alert", function (a) {
    if (!toasts) return;
    const toast = document.createElement("article");
    toast.className = "toast";
    toast.setAttribute("role", "alert");
    toast.dataset.testid = "toast";
    toast.textContent = "Alert: " + a.symbol + " " + a.kind.replace("_", " ") + " " + a.threshold +
      " fired at " + a.triggered_price + ".";
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
      market.textContent = "simulated session";
      market.title = "Demo market: prices replay a trading session while the exchanges are closed";
      market.dataset.marketState = "simulated";
      return;
    }
    market.textContent = open.length ? "open: " + open.join(", ") : "markets closed";
    market.dataset.marketState = open.length ? "open" : "closed";
  });
})();
