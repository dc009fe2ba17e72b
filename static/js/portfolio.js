// The portfolio page's charts: the allocation doughnut and performance against the benchmark;
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
  if (!window.Chart) return;
  const charts = [];
  // Axis text and grid in the page's theme; redrawn when it changes.
  function themeCharts() {
    const dark = window.tdIsDark && window.tdIsDark();
    Chart.defaults.color = dark ? "#c2c7d0" : "#373c44";
    Chart.defaults.borderColor = dark ? "#2a2f37" : "#e1e5ea";
    charts.forEach(function (c) {
      Object.values(c.options.scales || {}).forEach(function (scale) {
        if (scale.ticks) scale.ticks.color = Chart.defaults.color;
        if (scale.grid) scale.grid.color = Chart.defaults.borderColor;
        if (scale.title) scale.title.color = Chart.defaults.color;
      });
      if (c.options.plugins && c.options.plugins.legend) c.options.plugins.legend.labels.color = Chart.defaults.color;
      c.update();
    });
    document.querySelectorAll("canvas[data-drawn]").forEach(function (canvas) {
      canvas.dataset.theme = dark ? "dark" : "light";
    });
  }
  themeCharts();
  document.addEventListener("td:theme", themeCharts);
  const LOCALE = document.documentElement.lang || "en";
  const palette = ["#0172ad", "#1a7f37", "#bc4c00", "#6f42c1", "#cf222e", "#1b7c83", "#9a6700", "#8250df",
                   "#57606a", "#0969da", "#bf3989", "#2da44e"];

  const allocationCanvas = document.getElementById("allocation-chart");
  if (allocationCanvas) {
    const allocation = JSON.parse(allocationCanvas.dataset.allocation || "{}");
    let doughnut = null;
    const draw = function (by) {
      const slices = allocation[by] || [];
      const data = {labels: slices.map(function (s) { return s.key; }),
                    datasets: [{data: slices.map(function (s) { return Number(s.value); }),
                                backgroundColor: slices.map(function (_, i) { return palette[i % palette.length]; })}]};
      if (doughnut) { doughnut.data = data; doughnut.update(); return; }
      doughnut = new Chart(allocationCanvas, {type: "doughnut", data: data,
        options: {plugins: {legend: {position: "right", labels: {}}}, animation: false}});
      charts.push(doughnut);
    };
    document.querySelectorAll("[data-allocation-by]").forEach(function (button) {
      button.addEventListener("click", function () {
        document.querySelectorAll("[data-allocation-by]").forEach(function (b) { b.classList.add("outline"); });
        button.classList.remove("outline");
        draw(button.dataset.allocationBy);
      });
    });
    draw("holding");
    allocationCanvas.dataset.drawn = "true";
  }

  const performanceCanvas = document.getElementById("performance-chart");
  if (performanceCanvas) {
    const perf = JSON.parse(performanceCanvas.dataset.performance || "{}");
    const mine = perf.portfolio || [];
    const bench = new Map((perf.benchmark || []).map(function (p) { return [p.date, p.value]; }));
    // Short date labels, level and spaced out, so they never run into each other.
    const span = mine.length ? (Date.parse(mine[mine.length - 1].date) - Date.parse(mine[0].date)) / 864e5 : 0;
    const short = new Intl.DateTimeFormat(LOCALE, span > 400 ? {month: "short", year: "2-digit", timeZone: "UTC"}
                                                              : {day: "numeric", month: "short", timeZone: "UTC"});
    const performance = new Chart(performanceCanvas, {
      type: "line",
      data: {labels: mine.map(function (p) { return p.date; }),
             datasets: [{label: window.tdT("perf_portfolio"), data: mine.map(function (p) { return p.value; }),
                         borderColor: palette[0], pointRadius: 0, borderWidth: 2},
                        {label: perf.benchmark_name || window.tdT("perf_benchmark"), borderColor: palette[2], pointRadius: 0, borderWidth: 1,
                         data: mine.map(function (p) { return bench.has(p.date) ? bench.get(p.date) : null; }),
                         spanGaps: true}]},
      options: {animation: false, interaction: {mode: "index", intersect: false},
                plugins: {legend: {labels: {}}},
                scales: {x: {ticks: {maxTicksLimit: 7, maxRotation: 0, autoSkip: true, autoSkipPadding: 24,
                                     callback: function (value) { return short.format(Date.parse(this.getLabelForValue(value))); }},
                             grid: {}},
                         y: {title: {display: true, text: window.tdT("perf_axis")}, ticks: {}, grid: {}}}},
    });
    charts.push(performance);
    performanceCanvas.dataset.drawn = "true";
  }
  themeCharts();
})();
