// The stock page's chart: candles and volume, SMA/EMA/Bollinger overlays, RSI and MACD panes.
(function () {
  "use strict";
  const el = document.getElementById("chart");
  if (!el || !window.LightweightCharts) return;
  const LC = window.LightweightCharts;
  const status = document.getElementById("chart-status");
  const up = "#1a7f37", down = "#cf222e";
  const OVERLAYS = {sma20: "#6f42c1", sma50: "#0969da", sma200: "#bc4c00", ema20: "#1b7c83"};

  const chart = LC.createChart(el, {
    autoSize: true,
    layout: {attributionLogo: false},
    rightPriceScale: {borderVisible: false},
    timeScale: {borderVisible: false},
    crosshair: {mode: LC.CrosshairMode.Normal},
  });
  const candles = chart.addSeries(LC.CandlestickSeries, {
    upColor: up, downColor: down, borderVisible: false, wickUpColor: up, wickDownColor: down,
  }, 0);
  const volume = chart.addSeries(LC.HistogramSeries, {priceScaleId: "volume", priceFormat: {type: "volume"}}, 0);
  volume.priceScale().applyOptions({scaleMargins: {top: 0.8, bottom: 0}});
  const lines = {};
  Object.keys(OVERLAYS).forEach(function (name) {
    lines[name] = chart.addSeries(LC.LineSeries, {color: OVERLAYS[name], lineWidth: 1, priceLineVisible: false,
                                                   lastValueVisible: false, title: name.toUpperCase()}, 0);
  });
  const band = {lineWidth: 1, color: "#8c959f", lineStyle: LC.LineStyle.Dashed, priceLineVisible: false,
                lastValueVisible: false};
  lines.bb_upper = chart.addSeries(LC.LineSeries, band, 0);
  lines.bb_lower = chart.addSeries(LC.LineSeries, band, 0);
  const rsi = chart.addSeries(LC.LineSeries, {color: "#6f42c1", lineWidth: 1, title: "RSI 14"}, 1);
  [70, 30].forEach(function (level) {
    rsi.createPriceLine({price: level, color: "#8c959f", lineStyle: LC.LineStyle.Dotted, lineWidth: 1});
  });
  const macdHist = chart.addSeries(LC.HistogramSeries, {priceLineVisible: false, lastValueVisible: false}, 2);
  const macd = chart.addSeries(LC.LineSeries, {color: "#0969da", lineWidth: 1, title: "MACD"}, 2);
  const signal = chart.addSeries(LC.LineSeries, {color: "#bc4c00", lineWidth: 1, title: "signal"}, 2);
  const panes = chart.panes();
  if (panes.length > 2) { panes[1].setHeight(120); panes[2].setHeight(130); }

  function points(dates, values) {
    // Warm-up values are null: leave a gap (whitespace data) rather than drawing zeros.
    return dates.map(function (d, i) { return values[i] === null ? {time: d} : {time: d, value: values[i]}; });
  }

  function toggles() {
    document.querySelectorAll("[data-overlay]").forEach(function (box) {
      const names = box.dataset.overlay === "bollinger" ? ["bb_upper", "bb_lower"] : [box.dataset.overlay];
      names.forEach(function (name) { lines[name].applyOptions({visible: box.checked}); });
    });
  }

  function load(range) {
    status.innerHTML = "<small>Loading chart…</small>";
    fetch(el.dataset.url + "?range=" + encodeURIComponent(range), {headers: {Accept: "application/json"}})
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || "The chart could not be loaded.");
          return body;
        });
      })
      .then(function (data) {
        const bars = data.history.bars;
        candles.setData(bars.map(function (b) {
          return {time: b.date, open: b.open, high: b.high, low: b.low, close: b.close};
        }));
        volume.setData(bars.map(function (b) {
          return {time: b.date, value: b.volume || 0, color: b.close >= b.open ? "#1a7f3755" : "#cf222e55"};
        }));
        const ind = data.indicators;
        ["sma20", "sma50", "sma200", "ema20", "bb_upper", "bb_lower"].forEach(function (name) {
          lines[name].setData(points(ind.dates, ind[name]));
        });
        rsi.setData(points(ind.dates, ind.rsi14));
        macd.setData(points(ind.dates, ind.macd));
        signal.setData(points(ind.dates, ind.macd_signal));
        macdHist.setData(ind.dates.map(function (d, i) {
          const v = ind.macd_hist[i];
          return v === null ? {time: d} : {time: d, value: v, color: v >= 0 ? "#1a7f3799" : "#cf222e99"};
        }));
        toggles();
        chart.timeScale().fitContent();
        const splits = (data.history.splits || []).map(function (s) { return s.ratio + " on " + s.ex_date; });
        const note = (data.history.source === "demo" ? "Simulated data. " : "") +
          "Prices split-adjusted (in today's shares" + (splits.length ? "; splits: " + splits.join(", ") : "") +
          "), as the portfolio values them. " +
          (data.history.stale ? "Served stale: the providers are not answering. " : "");
        status.innerHTML = "<small>" + bars.length + " daily bars. " + note + "</small>";
        el.dataset.drawn = String(bars.length);
      })
      .catch(function (err) { status.innerHTML = ""; status.textContent = err.message; });
  }

  document.querySelectorAll("[data-range]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("[data-range]").forEach(function (b) { b.classList.add("outline"); });
      button.classList.remove("outline");
      load(button.dataset.range);
    });
  });
  document.querySelectorAll("[data-overlay]").forEach(function (box) { box.addEventListener("change", toggles); });
  load("1y");
})();
