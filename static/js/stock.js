// The stock page's chart: candles with SMA/EMA/Bollinger overlays, then volume, RSI and MACD, each in a pane
// of its own height; a legend with the values under the cursor; the last candle is the quote's session and
// moves with live quotes; colours follow the page's theme; a text summary stands for the chart.
(function () {
  "use strict";
  const el = document.getElementById("chart");
  if (!el || !window.LightweightCharts) return;
  const LC = window.LightweightCharts;
  const status = document.getElementById("chart-status");
  const legend = document.getElementById("chart-legend");
  const summary = document.getElementById("chart-summary");
  const LOCALE = document.documentElement.lang || "en";
  const T = window.tdT;
  const PALETTES = {
    light: {up: "#1a7f37", down: "#cf222e", text: "#373c44", grid: "#eceff3", band: "#8c959f", bg: "#ffffff",
            sma20: "#6f42c1", sma50: "#0969da", sma200: "#bc4c00", ema20: "#1b7c83", rsi: "#6f42c1",
            macd: "#0969da", signal: "#bc4c00"},
    dark: {up: "#3fb950", down: "#ff7b72", text: "#c2c7d0", grid: "#2a2f37", band: "#8b949e", bg: "#13171f",
           sma20: "#d2a8ff", sma50: "#79c0ff", sma200: "#ffa657", ema20: "#56d4dd", rsi: "#d2a8ff",
           macd: "#79c0ff", signal: "#ffa657"},
  };
  const OVERLAYS = ["sma20", "sma50", "sma200", "ema20"];
  // Panes and their shares of the height: price, volume, RSI, MACD (never a sliver: see .chart's height).
  const PANES = {price: 0, volume: 1, rsi: 2, macd: 3};
  const STRETCH = [5, 1.2, 1.6, 1.6];
  let colours = palette();
  let data = null;

  function palette() { return PALETTES[window.tdIsDark && window.tdIsDark() ? "dark" : "light"]; }

  const chart = LC.createChart(el, {
    autoSize: true,
    layout: {attributionLogo: false, panes: {separatorColor: colours.grid, enableResize: true}},
    rightPriceScale: {borderVisible: false, minimumWidth: 64},
    timeScale: {borderVisible: false},
    crosshair: {mode: LC.CrosshairMode.Normal},
  });
  el.chart = chart;  // for the browser tests: pane heights, series values
  const candles = chart.addSeries(LC.CandlestickSeries, {borderVisible: false}, PANES.price);
  el.candles = candles;
  const volume = chart.addSeries(LC.HistogramSeries, {priceFormat: {type: "volume"}, priceLineVisible: false,
                                                      lastValueVisible: false, title: T("volume")}, PANES.volume);
  const lines = {};
  OVERLAYS.forEach(function (name) {
    lines[name] = chart.addSeries(LC.LineSeries, {lineWidth: 1, priceLineVisible: false, lastValueVisible: false,
                                                  crosshairMarkerVisible: false, title: name.toUpperCase()}, PANES.price);
  });
  const band = {lineWidth: 1, lineStyle: LC.LineStyle.Dashed, priceLineVisible: false, lastValueVisible: false,
                crosshairMarkerVisible: false};
  lines.bb_upper = chart.addSeries(LC.LineSeries, band, PANES.price);
  lines.bb_lower = chart.addSeries(LC.LineSeries, band, PANES.price);
  const rsi = chart.addSeries(LC.LineSeries, {lineWidth: 1, title: "RSI 14",
    autoscaleInfoProvider: function () { return {priceRange: {minValue: 0, maxValue: 100}}; }}, PANES.rsi);
  const levels = [70, 30].map(function (level) {
    return rsi.createPriceLine({price: level, lineStyle: LC.LineStyle.Dotted, lineWidth: 1, axisLabelVisible: true,
                                title: String(level)});
  });
  const macdHist = chart.addSeries(LC.HistogramSeries, {priceLineVisible: false, lastValueVisible: false}, PANES.macd);
  const macd = chart.addSeries(LC.LineSeries, {lineWidth: 1, title: "MACD", priceLineVisible: false}, PANES.macd);
  const signal = chart.addSeries(LC.LineSeries, {lineWidth: 1, title: T("signal"), priceLineVisible: false}, PANES.macd);
  chart.panes().forEach(function (pane, i) { pane.setStretchFactor(STRETCH[i] || 1); });

  function theme() {
    colours = palette();
    chart.applyOptions({layout: {background: {type: "solid", color: "transparent"}, textColor: colours.text,
                                 panes: {separatorColor: colours.grid}},
                        grid: {vertLines: {color: colours.grid}, horzLines: {color: colours.grid}}});
    candles.applyOptions({upColor: colours.up, downColor: colours.down, wickUpColor: colours.up,
                          wickDownColor: colours.down});
    OVERLAYS.forEach(function (name) { lines[name].applyOptions({color: colours[name]}); });
    lines.bb_upper.applyOptions({color: colours.band});
    lines.bb_lower.applyOptions({color: colours.band});
    rsi.applyOptions({color: colours.rsi});
    levels.forEach(function (line) { line.applyOptions({color: colours.band}); });
    macd.applyOptions({color: colours.macd});
    signal.applyOptions({color: colours.signal});
    if (data) drawVolumes();
    el.dataset.theme = window.tdIsDark && window.tdIsDark() ? "dark" : "light";
  }

  function points(dates, values) {
    // Warm-up values are null: leave a gap (whitespace data) rather than drawing zeros.
    return dates.map(function (d, i) { return values[i] === null ? {time: d} : {time: d, value: values[i]}; });
  }
  function translucent(hex, alpha) { return hex + alpha; }
  function drawVolumes() {
    volume.setData(data.history.bars.map(function (b) {
      return {time: b.date, value: b.volume || 0, color: translucent(b.close >= b.open ? colours.up : colours.down, "88")};
    }));
    const ind = data.indicators;
    macdHist.setData(ind.dates.map(function (d, i) {
      const v = ind.macd_hist[i];
      return v === null ? {time: d} : {time: d, value: v, color: translucent(v >= 0 ? colours.up : colours.down, "99")};
    }));
  }

  function toggles() {
    document.querySelectorAll("[data-overlay]").forEach(function (box) {
      const names = box.dataset.overlay === "bollinger" ? ["bb_upper", "bb_lower"] : [box.dataset.overlay];
      names.forEach(function (name) { lines[name].applyOptions({visible: box.checked}); });
    });
  }

  function small(text) { const node = document.createElement("small"); node.textContent = text; return node; }
  function fmt(n, digits) {
    if (n === null || n === undefined) return "–";
    return Number(n).toLocaleString(LOCALE, {minimumFractionDigits: digits, maximumFractionDigits: digits});
  }
  function compact(n) {
    if (n === null || n === undefined) return "–";
    return Number(n).toLocaleString(LOCALE, {notation: "compact", maximumFractionDigits: 1});
  }

  // The legend: the bar and the indicators of the day under the cursor (the last day when it is elsewhere).
  function showLegend(index) {
    if (!legend || !data) return;
    const bars = data.history.bars;
    if (index === null || index < 0 || index >= bars.length) index = bars.length - 1;
    const bar = bars[index];
    if (!bar) { legend.textContent = ""; return; }
    const ind = data.indicators;
    const at = ind.dates.indexOf(bar.date);
    const value = function (name) { return at < 0 ? null : ind[name][at]; };
    const parts = [
      ["", window.tdDay(bar.date) + (bar.partial ? " " + T("so_far") : "")],
      [T("legend_open"), fmt(bar.open, 2)], [T("legend_high"), fmt(bar.high, 2)], [T("legend_low"), fmt(bar.low, 2)],
      [T("legend_close"), fmt(bar.close, 2)], [T("legend_volume"), compact(bar.volume)],
    ];
    OVERLAYS.forEach(function (name) {
      const box = document.querySelector('[data-overlay="' + name + '"]');
      if (box && box.checked) parts.push([name.toUpperCase(), fmt(value(name), 2)]);
    });
    parts.push(["RSI", fmt(value("rsi14"), 1)], ["MACD", fmt(value("macd"), 2)], [T("signal"), fmt(value("macd_signal"), 2)]);
    legend.replaceChildren();
    parts.forEach(function (part) {
      const item = document.createElement("span");
      if (part[0]) {
        const label = document.createElement("b");
        label.textContent = part[0] + " ";
        item.appendChild(label);
      }
      item.append(part[1]);
      legend.appendChild(item);
    });
    legend.dataset.date = bar.date;
  }
  function isoDay(time) {  // a time of the chart as YYYY-MM-DD, whichever form the library hands back
    if (typeof time === "string") return time;
    if (typeof time === "number") return new Date(time * 1000).toISOString().slice(0, 10);
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return time.year + "-" + pad(time.month) + "-" + pad(time.day);
  }
  let hovered = null;  // the bar under the cursor, kept while live quotes move the last one
  chart.subscribeCrosshairMove(function (param) {
    if (!data || !param || param.time === undefined || param.time === null) { hovered = null; showLegend(null); return; }
    const day = isoDay(param.time);
    hovered = data.history.bars.findIndex(function (b) { return b.date === day; });
    showLegend(hovered);
  });

  // The text alternative: the range's change, high and low, in words.
  function summarise(range) {
    if (!summary || !data) return;
    const bars = data.history.bars;
    if (!bars.length) { summary.textContent = T("chart_empty"); return; }
    const first = bars[0], last = bars[bars.length - 1];
    const high = bars.reduce(function (m, b) { return b.high > m.high ? b : m; }, first);
    const low = bars.reduce(function (m, b) { return b.low < m.low ? b : m; }, first);
    const change = (last.close / first.open - 1) * 100;
    summary.textContent = T("chart_summary", {
      symbol: el.dataset.symbol, range: range.toUpperCase(), first: window.tdDay(first.date), last: window.tdDay(last.date),
      open: fmt(first.open, 2), close: fmt(last.close, 2), currency: data.history.currency || "",
      change: (change >= 0 ? "+" : "") + fmt(change, 2) + " %", high: fmt(high.high, 2),
      high_day: window.tdDay(high.date), low: fmt(low.low, 2), low_day: window.tdDay(low.date)});
  }

  function load(range) {
    status.replaceChildren();
    status.appendChild(small(T("chart_loading")));
    el.setAttribute("aria-busy", "true");
    fetch(el.dataset.url + "?range=" + encodeURIComponent(range), {headers: {Accept: "application/json"}})
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || T("chart_failed"));
          return body;
        });
      })
      .then(function (body) {
        data = body;
        const bars = data.history.bars;
        candles.setData(bars.map(function (b) {
          return {time: b.date, open: b.open, high: b.high, low: b.low, close: b.close};
        }));
        const ind = data.indicators;
        ["sma20", "sma50", "sma200", "ema20", "bb_upper", "bb_lower"].forEach(function (name) {
          lines[name].setData(points(ind.dates, ind[name]));
        });
        rsi.setData(points(ind.dates, ind.rsi14));
        macd.setData(points(ind.dates, ind.macd));
        signal.setData(points(ind.dates, ind.macd_signal));
        drawVolumes();
        toggles();
        chart.timeScale().fitContent();
        const splits = (data.history.splits || []).map(function (s) {
          return T("chart_split_on", {ratio: s.ratio, day: window.tdDay(s.ex_date)});
        });
        const note = [T("chart_bars", {count: bars.length}), data.history.source === "demo" ? T("chart_simulated") : "",
          T("chart_adjusted", {splits: splits.length ? T("chart_splits", {list: splits.join(", ")}) : ""}),
          data.history.stale ? T("chart_stale") : ""].filter(Boolean).join(" ");
        status.replaceChildren();
        status.appendChild(small(note));
        el.dataset.drawn = String(bars.length);
        el.dataset.lastDate = bars.length ? bars[bars.length - 1].date : "";
        el.removeAttribute("aria-busy");
        showLegend(null);
        summarise(range);
      })
      .catch(function (err) { el.removeAttribute("aria-busy"); status.replaceChildren(); status.textContent = err.message; });
  }

  // A live quote moves the last candle (live.js passes each one on as "td:quote").
  document.addEventListener("td:quote", function (event) {
    const q = event.detail;
    if (!data || !q || q.symbol !== el.dataset.symbol || q.price === null) return;
    const bars = data.history.bars;
    const last = bars[bars.length - 1];
    if (!last || !last.partial) return;
    last.close = q.price;
    last.high = Math.max(last.high, q.price, q.day_high === null ? q.price : q.day_high);
    last.low = Math.min(last.low, q.price, q.day_low === null ? q.price : q.day_low);
    if (q.volume !== null && q.volume !== undefined) last.volume = q.volume;
    candles.update({time: last.date, open: last.open, high: last.high, low: last.low, close: last.close});
    el.dataset.lastClose = String(last.close);
    showLegend(hovered);
  });

  document.querySelectorAll("[data-range]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("[data-range]").forEach(function (b) {
        b.classList.add("outline");
        b.setAttribute("aria-pressed", "false");
      });
      button.classList.remove("outline");
      button.setAttribute("aria-pressed", "true");
      load(button.dataset.range);
    });
  });
  document.querySelectorAll("[data-overlay]").forEach(function (box) {
    box.addEventListener("change", function () { toggles(); showLegend(hovered); });
  });
  document.addEventListener("td:theme", theme);
  theme();
  load("1y");

  // With an LLM configured the "why" text is generated (cached a week on the server); the template's stays
  // until it arrives, and when generation fails the server answers with the template's again.
  const why = document.querySelector("[data-testid=why-text][data-url]");
  if (why) {
    fetch(why.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || data.source !== "llm") return;
        why.textContent = data.text;
        document.querySelector("[data-testid=why-source]").textContent = T("why_generated", {model: data.model});
      }).catch(function () {});
  }
})();
