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

// Site-wide behaviour: the navigation's search box suggests stocks as you type.
(function () {
  "use strict";
  const input = document.querySelector("[data-suggest-url]");
  if (!input) return;
  const list = document.getElementById(input.getAttribute("aria-controls"));
  let timer = null;
  let last = "";

  input.addEventListener("input", function () {
    const q = input.value.trim();
    clearTimeout(timer);
    if (!q) { hide(); last = ""; return; }
    if (q === last) return;
    timer = setTimeout(function () { suggest(q); }, 120);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") hide();
    if (event.key === "ArrowDown" && !list.hidden) {
      const first = list.querySelector("a");
      if (first) { event.preventDefault(); first.focus(); }
    }
  });
  document.addEventListener("click", function (event) {
    if (!list.contains(event.target) && event.target !== input) hide();
  });

  function hide() { list.hidden = true; }

  function suggest(q) {
    last = q;
    fetch(input.dataset.suggestUrl + "?q=" + encodeURIComponent(q), {headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {results: []}; })
      .then(function (data) {
        if (q !== last) return;  // a newer query is on its way
        list.replaceChildren();
        data.results.forEach(function (hit) {
          const item = document.createElement("li");
          const link = document.createElement("a");
          link.href = "/stocks/" + encodeURIComponent(hit.symbol);
          link.setAttribute("role", "option");
          link.dataset.symbol = hit.symbol;
          const symbol = document.createElement("strong");
          symbol.textContent = hit.symbol;
          link.append(symbol, " " + hit.name + " · " + hit.exchange);
          item.appendChild(link);
          list.appendChild(item);
        });
        list.hidden = data.results.length === 0;
      })
      .catch(function () { hide(); /* suggestions are a convenience; the form still submits */ });
  }
})();

// Toasts the server rendered (alerts that fired while the page loaded) go after 15 s, as live.js's do.
(function () {
  "use strict";
  document.querySelectorAll("#toasts .toast").forEach(function (toast) {
    setTimeout(function () { toast.remove(); }, 15000);
  });
})();
