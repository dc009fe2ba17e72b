// The portfolio page's charts: the allocation tabs and performance against the benchmark;
// and its transactions: a confirm() dialog before a delete (without JavaScript a confirmation page asks);
// the dividend inbox: a confirm() before a dismiss (without JavaScript it is posted directly).
(function () {
  "use strict";
  // Delete links lead to a confirmation page; here a dialog asks instead and the delete is posted directly.
  const table = document.querySelector("table[data-csrf]");
  document.querySelectorAll("a[data-confirm-delete][data-delete-url]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (!table || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      if (!window.confirm(link.dataset.confirmDelete)) return;
      const form = document.createElement("form");
      form.method = "post";
      form.action = link.dataset.deleteUrl;
      const token = document.createElement("input");
      token.type = "hidden";
      token.name = "csrf_token";
      token.value = table.dataset.csrf;
      form.appendChild(token);
      document.body.appendChild(form);
      form.submit();
    });
  });
  // An undo (or a delete) posted once: a second click before the page changes would post it again.
  document.querySelectorAll("form[data-undo-form], [data-testid='confirm-delete'] form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "true";
    });
  });
  // Dividend inbox: a dismiss asks first (it is for good); each decision is posted once.
  document.querySelectorAll("form[data-dividend-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent || (form.dataset.confirm && !window.confirm(form.dataset.confirm))) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "true";
    });
  });
  // A performance that a worker is still computing: ask until it is ready, then show it.
  const pending = document.querySelector("[data-performance-status]");
  if (pending) {
    let tries = 0;
    const poll = function () {
      tries += 1;
      fetch(pending.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body && body.status === "ready") { window.location.reload(); return; }
          if (tries < 60) window.setTimeout(poll, 2000);
        })
        .catch(function () { if (tries < 60) window.setTimeout(poll, 4000); });
    };
    window.setTimeout(poll, 1500);
  }
  // Allocation: the server drew one doughnut per grouping; the tabs show one at a time.
  document.querySelectorAll("[data-allocation-by]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("[data-allocation-by]").forEach(function (b) {
        b.classList.add("outline");
        b.setAttribute("aria-pressed", "false");
      });
      button.classList.remove("outline");
      button.setAttribute("aria-pressed", "true");
      document.querySelectorAll("[data-allocation-group]").forEach(function (figure) {
        figure.hidden = figure.dataset.allocationGroup !== button.dataset.allocationBy;
      });
    });
  });

  // Performance against the benchmark (growth of 100), in the page's theme; redrawn when it changes.
  const el = document.getElementById("performance-chart");
  const LC = window.LightweightCharts;
  if (!el || !LC) return;
  const perf = JSON.parse(el.dataset.performance || "{}");
  const mine = (perf.portfolio || []).map(function (p) { return {time: p.date, value: Number(p.value)}; });
  const first = mine.length ? mine[0].time : null;
  const last = mine.length ? mine[mine.length - 1].time : null;
  // The benchmark over the portfolio's days only, so both lines span the same range.
  const bench = (perf.benchmark || []).filter(function (p) { return first && p.date >= first && p.date <= last; })
    .map(function (p) { return {time: p.date, value: Number(p.value)}; });
  if (mine.length < 2) return;
  const LOCALE = document.documentElement.lang || "en";
  const PALETTES = {light: {text: "#373c44", grid: "#eceff3", mine: "#0172ad", bench: "#bc4c00"},
                    dark: {text: "#c2c7d0", grid: "#2a2f37", mine: "#4fa8e0", bench: "#ffa657"}};
  const day = new Intl.DateTimeFormat(LOCALE, {day: "numeric", month: "short", year: "numeric", timeZone: "UTC"});
  const chart = LC.createChart(el, {
    autoSize: true, height: 260,
    layout: {attributionLogo: false, background: {type: "solid", color: "transparent"}},
    rightPriceScale: {borderVisible: false}, timeScale: {borderVisible: false},
    localization: {locale: LOCALE, timeFormatter: function (t) {
      return day.format(Date.UTC(t.year, t.month - 1, t.day));
    }},
    handleScroll: false, handleScale: false,
  });
  const portfolio = chart.addSeries(LC.LineSeries, {lineWidth: 2, priceLineVisible: false});
  const benchmark = chart.addSeries(LC.LineSeries, {lineWidth: 1, priceLineVisible: false});
  portfolio.setData(mine);
  benchmark.setData(bench);
  chart.timeScale().fitContent();
  function theme() {
    const colours = PALETTES[window.tdIsDark && window.tdIsDark() ? "dark" : "light"];
    chart.applyOptions({layout: {textColor: colours.text},
                        grid: {vertLines: {color: colours.grid}, horzLines: {color: colours.grid}}});
    portfolio.applyOptions({color: colours.mine});
    benchmark.applyOptions({color: colours.bench});
    document.querySelector(".chart-legend .swatch.portfolio").style.background = colours.mine;
    document.querySelector(".chart-legend .swatch.benchmark").style.background = colours.bench;
  }
  theme();
  document.addEventListener("td:theme", theme);
  // For the browser tests: what each line holds.
  el.series = {portfolio: portfolio.data(), benchmark: benchmark.data()};
  el.dataset.drawn = "true";
})();
