// The navigation's menu button (below 768 px the links fold into it).
(function () {
  "use strict";
  const toggle = document.querySelector(".nav-toggle");
  const menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  if (!menu) return;
  toggle.addEventListener("click", function () {
    const open = menu.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && menu.classList.contains("open")) {
      menu.classList.remove("open");
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
  });
})();

// Site-wide behaviour: the navigation's search box suggests stocks as you type (a WAI-ARIA combobox:
// focus stays in the box, ArrowDown/ArrowUp move through the suggestions, Enter opens the one chosen,
// Escape closes the list; "No matches" says when nothing fits).
(function () {
  "use strict";
  const input = document.querySelector("[data-suggest-url]");
  if (!input) return;
  const list = document.getElementById(input.getAttribute("aria-controls"));
  let timer = null;
  let last = "";
  let active = -1;
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");

  function options() { return Array.from(list.querySelectorAll('[role="option"]')); }
  function choose(index) {
    const all = options();
    if (!all.length) return;
    active = (index + all.length) % all.length;
    all.forEach(function (el, i) { el.setAttribute("aria-selected", String(i === active)); });
    input.setAttribute("aria-activedescendant", all[active].id);
    all[active].scrollIntoView({block: "nearest"});
  }
  function show() { list.hidden = false; input.setAttribute("aria-expanded", "true"); }
  function hide() {
    list.hidden = true;
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  input.addEventListener("input", function () {
    const q = input.value.trim();
    clearTimeout(timer);
    if (!q) { hide(); last = ""; return; }
    if (q === last) return;
    timer = setTimeout(function () { suggest(q); }, 120);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { if (!list.hidden) { event.preventDefault(); hide(); } return; }
    if (list.hidden) return;
    if (event.key === "ArrowDown") { event.preventDefault(); choose(active + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); choose(active - 1); }
    else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      window.location.href = options()[active].querySelector("a").href;
    }
  });
  input.addEventListener("blur", function () { setTimeout(function () {
    if (!list.contains(document.activeElement)) hide();
  }, 150); });
  document.addEventListener("click", function (event) {
    if (!list.contains(event.target) && event.target !== input) hide();
  });

  function suggest(q) {
    last = q;
    fetch(input.dataset.suggestUrl + "?q=" + encodeURIComponent(q), {headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {results: []}; })
      .then(function (data) {
        if (q !== last) return;  // a newer query is on its way
        list.replaceChildren();
        active = -1;
        input.removeAttribute("aria-activedescendant");
        data.results.forEach(function (hit, i) {
          const item = document.createElement("li");
          item.setAttribute("role", "option");
          item.id = "suggestion-" + i;
          item.setAttribute("aria-selected", "false");
          item.dataset.symbol = hit.symbol;
          const link = document.createElement("a");
          link.href = "/stocks/" + encodeURIComponent(hit.symbol);
          link.tabIndex = -1;
          link.dataset.symbol = hit.symbol;
          const symbol = document.createElement("strong");
          symbol.textContent = hit.symbol;
          link.append(symbol, " " + hit.name + " · " + hit.exchange);
          item.appendChild(link);
          list.appendChild(item);
        });
        if (!data.results.length) {
          const none = document.createElement("li");
          none.className = "no-matches";
          none.dataset.testid = "no-matches";
          none.textContent = window.tdT("no_matches", {query: q});
          list.appendChild(none);
        }
        show();
      })
      .catch(function () { hide(); /* suggestions are a convenience; the form still submits */ });
  }
})();

// The theme toggle: switches between light and dark at once (charts listen for "td:theme") and saves the
// choice on the account (or, before logging in, in a cookie). Following the browser also re-themes charts.
(function () {
  "use strict";
  const form = document.querySelector(".theme-form");
  const root = document.documentElement;
  function announce() { document.dispatchEvent(new CustomEvent("td:theme")); }
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
    if (!root.dataset.theme) announce();
  });
  if (!form) return;
  const button = form.querySelector("button");
  function label() {
    const dark = window.tdIsDark();
    button.value = dark ? "light" : "dark";
    button.setAttribute("aria-label", window.tdT(dark ? "to_light" : "to_dark"));
    button.title = button.getAttribute("aria-label");
  }
  label();
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const theme = button.value;
    root.dataset.theme = theme;
    document.querySelector('meta[name="color-scheme"]').content = theme;
    label();
    announce();
    fetch(form.action, {method: "POST", credentials: "same-origin", headers: {Accept: "application/json"},
                        body: new URLSearchParams({csrf_token: form.elements.csrf_token.value, theme: theme})});
  });
})();

// Deletes ask first: a form with data-confirm is sent only once its question is answered OK
// (its undo, where there is one, is in the message shown after it).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.hasAttribute("data-dividend-form")) return;
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();

// Installable: the service worker (/sw.js) keeps the shell for offline use.
if ("serviceWorker" in navigator) {
  window.addEventListener("load", function () {
    navigator.serviceWorker.register("/sw.js", {scope: "/"}).catch(function () { /* the site works without it */ });
  });
}

// Loading: while the next page is fetched (a link followed, a form sent), a bar at the top says so.
(function () {
  "use strict";
  const main = document.getElementById("main");
  function loading() {
    document.body.classList.add("is-loading");
    if (main) main.setAttribute("aria-busy", "true");
  }
  document.addEventListener("submit", function (event) {
    if (!event.defaultPrevented && !event.target.target) loading();
  });
  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("a[href]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey ||
        link.target || link.hasAttribute("download") || link.origin !== location.origin ||
        (link.pathname === location.pathname && link.hash)) return;
    loading();
  });
  window.addEventListener("pageshow", function () {  // back to a page the browser kept: it is loaded
    document.body.classList.remove("is-loading");
    if (main) main.removeAttribute("aria-busy");
  });
})();

// Tables reflow on a phone: each cell is labelled with its column's heading (data-label, if it has one); below 600 px
// app.css shows each row as a card of "heading: value" lines. Without JavaScript the table scrolls in its box.
(function () {
  "use strict";
  document.querySelectorAll(".overflow-auto > table, table[data-reflow]").forEach(function (table) {
    // Without a header row (a table of row headings and values) the cells just stack, unlabelled.
    const head = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    const labels = [];
    Array.from(head ? head.cells : []).forEach(function (cell) {
      for (let i = 0; i < (cell.colSpan || 1); i += 1) labels.push(cell.textContent.trim().replace(/\s+/g, " "));
    });
    Array.from(table.tBodies).concat(table.tFoot ? [table.tFoot] : []).forEach(function (body) {
      Array.from(body.rows).forEach(function (row) {
        let column = 0;
        Array.from(row.cells).forEach(function (cell) {
          if (!cell.hasAttribute("data-label")) cell.setAttribute("data-label", labels[column] || "");
          column += cell.colSpan || 1;
        });
      });
    });
    table.setAttribute("data-reflow", "");
  });
})();

// A table box that scrolls sideways (a phone) can be scrolled from the keyboard: focusable, and named.
(function () {
  "use strict";
  function mark() {
    document.querySelectorAll(".overflow-auto").forEach(function (box) {
      const scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        const card = box.closest("article");
        const header = card && card.querySelector("header");
        box.setAttribute("aria-label", header ? header.textContent.trim().split("\n")[0] : document.title);
      } else if (!scrolls && box.getAttribute("role") === "region") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }
  mark();
  window.addEventListener("resize", mark);
})();

// Toasts the server rendered (alerts that fired while the page loaded) go after 15 s, as live.js's do.
(function () {
  "use strict";
  document.querySelectorAll("#toasts .toast").forEach(function (toast) {
    setTimeout(function () { toast.remove(); }, 15000);
  });
})();
