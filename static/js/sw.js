// Tickerdesk's service worker (served as /sw.js by app/ops/pwa.py, which fills in the shell and version).
// The shell is kept for offline use; static files come from the cache and are refreshed behind it;
// pages always come from the network (they hold a person's figures: never stored), and without a
// network a page is the offline page; API calls and live updates are never touched.
"use strict";
const VERSION = "__VERSION__";
const SHELL = "__SHELL__";
const CACHE = "tickerdesk-shell-" + VERSION;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(SHELL.map(function (url) { return new Request(url, {credentials: "omit"}); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.startsWith("tickerdesk-") && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(request).then(function (cached) {
        const fresh = fetch(request).then(function (response) {
          if (response.ok) cache.put(request, response.clone());
          return response;
        });
        if (cached) { fresh.catch(function () {}); return cached; }
        return fresh;
      });
    }));
  } else if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(function () {
      return caches.match("/offline", {cacheName: CACHE});
    }));
  }
});
