"""A local stand-in for Yahoo, Finnhub and Alpha Vantage that serves the recorded fixtures of
shared/fixtures/providers/ under the providers' real paths, with fault injection and request stats.

    server = start_stub_server()                # 127.0.0.1, free port, own thread + event loop
    settings = server.settings(FINNHUB_API_KEY="k", ALPHAVANTAGE_API_KEY="k")
    server.rate_limit_next(2, retry_after=7)    # also error_next, hang_next, truncate_next, ...
    server.latency_ms = 50; server.max_in_flight; server.requests; server.reset(); server.stop()

Routes: Yahoo at the root (`/v8/finance/chart/{symbol}`, `/v1/finance/search`), Finnhub under
`/api/v1` (`/quote`, `/stock/profile2`, `/stock/metric`, `/company-news`, `/stock/candle`), Alpha
Vantage at `/query?function=...`. Each fixture's recorded symbol (Yahoo and Finnhub AAPL; Alpha
Vantage MSFT quote, IBM daily and overview, AAPL news) gets the recorded bytes; symbols in
`unknown_symbols` get the recorded unknown-symbol answer with its recorded status; any other
symbol gets a synthesised body of the same shape (prices scaled to `synthetic_price(symbol)`),
or the unknown answer too when `synthesize` is False.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

SECRET_PARAMS = frozenset({"token", "apikey", "api_key", "crumb"})
DEFAULT_UNKNOWN = frozenset({"NONEXIST", "APPL", "ZZZZ", "INVALID", "DELISTED"})
FIXTURES_DIR = Path(os.environ.get("TICKERDESK_PROVIDER_FIXTURES")
                    or Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "providers")
FINNHUB = "/api/v1"
FAULT_KINDS = ("rate_limit", "error", "hang", "truncate", "malformed", "av_limit")
CHART_1D = "yahoo/v8_chart_AAPL_range_1d.json"
CHART_UNKNOWN = "yahoo/v8_chart_unknown_symbol_404.json"
V7_QUOTE = "yahoo/v7_quote_AAPL_BABA.json"
RECORDED_CRUMB = "haT3oykhHqZ"  # node-yahoo-finance2's recorded getcrumb body
COOKIE_PATH = "/fc"  # stands in for https://fc.yahoo.com
# recorded history charts and the [period1, period2) they cover
CHART_RANGES = (("yahoo/v8_chart_AAPL_1d_50bars_with_split_and_dividend.json", 1598832000, 1604707200),
                ("yahoo/v8_chart_AAPL_1d_period1_period2.json", 1577836800, 1578009600))
_JSON = "application/json"
Synth = Callable[[Any, str], None]


@dataclass
class Fault:
    """A queued fault: applies to the next `remaining` requests whose path starts with `path`."""

    kind: str
    remaining: int
    path: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    """A request the stub received; credential values are replaced by '***'."""

    method: str
    path: str
    params: dict[str, str]
    auth: str | None  # "header", "query" or None
    at: float


def synthetic_price(symbol: str) -> float:
    """A deterministic price in [10, 1000) for a symbol the fixtures do not hold."""
    return round(10 + (zlib.crc32(symbol.upper().encode()) % 99_000) / 100, 2)


def _scale(value: Any, factor: float, digits: int = 4) -> Any:
    """Scale a number, or each number of a list (None kept), by factor."""
    if isinstance(value, list):
        return [_scale(v, factor, digits) for v in value]
    return round(value * factor, digits) if isinstance(value, (int, float)) else value


def _json(data: Any, status: int = 200) -> web.Response:
    """A JSON response from a Python object."""
    return web.Response(body=orjson.dumps(data), status=status, content_type=_JSON)


class StubServer:
    """The stub: start(), url, settings(), fault injection, overrides, stats, reset(), stop()."""

    def __init__(self, fixtures_dir: Path | str | None = None, *, synthesize: bool = True,
                 unknown_symbols: frozenset[str] | set[str] = DEFAULT_UNKNOWN) -> None:
        self.fixtures_dir = Path(fixtures_dir or FIXTURES_DIR)
        if not (self.fixtures_dir / "README.md").is_file():
            raise FileNotFoundError(f"no provider fixtures at {self.fixtures_dir}; set TICKERDESK_PROVIDER_FIXTURES")
        self.synthesize = synthesize
        self.unknown_symbols = {s.upper() for s in unknown_symbols}
        self.latency_ms = 0.0  # added to every request
        self.url = ""
        self.max_in_flight = 0  # most requests handled at once since the last reset
        self.in_flight = 0
        self._raw: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._overrides: dict[str, tuple[int, bytes, str]] = {}
        self._requests: list[RecordedRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.crumb = RECORDED_CRUMB  # the one crumb v7 accepts; expire_crumb() replaces it
        self._crumbs_handed = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> StubServer:
        """Start serving in a background thread with its own event loop; return self."""
        ready, failure = threading.Event(), []

        def run() -> None:
            self._loop = loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self._startup(host, port))
            except BaseException as exc:  # handed to start() below
                failure.append(exc)
            ready.set()
            if not failure:
                loop.run_forever()
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="provider-stub", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise failure[0] if failure else RuntimeError("stub server did not start within 10 s")
        return self

    async def _startup(self, host: str, port: int) -> None:
        """Build the app and bind the socket (on the stub's loop)."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v8/finance/chart/{symbol}", self._yahoo_chart)
        app.router.add_get("/v1/finance/search", self._yahoo_search)
        app.router.add_get(COOKIE_PATH, self._yahoo_cookie)
        app.router.add_get("/v1/test/getcrumb", self._yahoo_crumb)
        app.router.add_get("/v7/finance/quote", self._yahoo_v7_quote)
        for path, good, unknown, synth in (
            ("/quote", "quote_AAPL.json", "finnhub/quote_unknown_symbol.json", _synth_fh_quote),
            ("/stock/profile2", "stock_profile2_AAPL.json", "finnhub/stock_profile2_unknown_symbol.json",
             _relabel(ticker="{s}", name="{s} Synthetic Corp")),
            ("/stock/metric", "stock_metric_all_AAPL.json",  # unknown: not recorded, an assumed shape
             {"metric": {}, "metricType": "all", "series": {}}, _relabel(symbol="{s}")),
            ("/company-news", "company_news_AAPL.json", "finnhub/company_news_unknown_symbol.json", _synth_fh_news),
        ):
            app.router.add_get(FINNHUB + path, self._finnhub(good, unknown, synth))
        app.router.add_get(FINNHUB + "/stock/candle", self._fh_candle)
        app.router.add_get(FINNHUB + "/stock/split", self._fh_split)
        app.router.add_get("/query", self._av_query)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.url = "http://%s:%d" % tuple(self._runner.addresses[0][:2])

    def stop(self) -> None:
        """Stop the server and join its thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Provider settings pointing every base URL at this stub, plus `extra`."""
        return {"YAHOO_BASE_URL": self.url, "YAHOO_COOKIE_URL": self.url + COOKIE_PATH, "FINNHUB_BASE_URL": self.url + FINNHUB,
                "ALPHAVANTAGE_BASE_URL": self.url, **extra}

    # -- faults, overrides, fixtures, stats ----------------------------------------------------

    def inject(self, kind: str, count: int = 1, *, path: str = "", **args: Any) -> None:
        """Queue a fault of `kind` (FAULT_KINDS) for the next `count` requests whose path starts with `path`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.append(Fault(kind, count, path, args))

    def rate_limit_next(self, count: int = 1, *, retry_after: float | str | None = 5, path: str = "") -> None:
        """Answer HTTP 429 with the provider's recorded body and Retry-After (None: no header)."""
        self.inject("rate_limit", count, path=path, retry_after=retry_after)

    def error_next(self, count: int = 1, *, status: int = 500, path: str = "") -> None:
        """Answer with an HTTP error status (default 500)."""
        self.inject("error", count, path=path, status=status)

    def hang_next(self, count: int = 1, *, seconds: float = 30.0, path: str = "") -> None:
        """Wait `seconds` before answering normally (longer than any client timeout by default)."""
        self.inject("hang", count, path=path, seconds=seconds)

    def truncate_next(self, count: int = 1, *, mode: str = "cut", path: str = "") -> None:
        """Send half the body: "cut" (Content-Length of the half) or "disconnect" (full length, then close)."""
        self.inject("truncate", count, path=path, mode=mode)

    def malformed_next(self, count: int = 1, *, path: str = "") -> None:
        """Answer 200 with an HTML page instead of JSON."""
        self.inject("malformed", count, path=path)

    def av_limit_next(self, count: int = 1, *, variant: str = "information", path: str = "/query") -> None:
        """Answer 200 with Alpha Vantage's recorded limit body ("information": 25/day, "note": 5/min)."""
        self.inject("av_limit", count, path=path, variant=variant)

    def override(self, path: str, body: Any, *, status: int = 200, content_type: str = _JSON) -> None:
        """Serve `body` (bytes, str or a JSON-able object) for every request to exactly `path` until reset()."""
        raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else orjson.dumps(body)
        with self._lock:
            self._overrides[path] = (status, raw, content_type)

    def fixture(self, name: str) -> bytes:
        """Return a fixture file's bytes, e.g. fixture("yahoo/v8_chart_AAPL_range_1d.json")."""
        if name not in self._raw:
            self._raw[name] = (self.fixtures_dir / name).read_bytes()
        return self._raw[name]

    def fixture_json(self, name: str) -> Any:
        """Return a fresh parsed copy of a JSON fixture."""
        return orjson.loads(self.fixture(name))

    synthetic_price = staticmethod(synthetic_price)

    def reset(self) -> None:
        """Clear faults, overrides, latency and stats."""
        with self._lock:
            self._faults.clear()
            self._overrides.clear()
            self._requests.clear()
            self.max_in_flight = self.in_flight
            self.latency_ms = 0.0
            self.crumb = RECORDED_CRUMB

    def expire_crumb(self) -> None:
        """Make v7 refuse the crumb handed out so far (401 "Invalid Crumb"), as Yahoo does now and then."""
        with self._lock:
            self._crumbs_handed += 1
            self.crumb = f"stubCrumb{self._crumbs_handed:03d}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received since the last reset, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """Number of requests received since the last reset."""
        with self._lock:
            return len(self._requests)

    # -- middleware: record, latency, faults ----------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        query = request.query
        params = {k: ("***" if k.lower() in SECRET_PARAMS else v) for k, v in query.items()}
        auth = "header" if "X-Finnhub-Token" in request.headers else "query" if {"token", "apikey"} & set(query) else None
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.path, params, auth, time.time()))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fault = next((f for f in self._faults if f.remaining > 0 and request.path.startswith(f.path)), None)
            if fault is not None:
                fault.remaining -= 1
            override = self._overrides.get(request.path)
        try:
            if self.latency_ms:
                await asyncio.sleep(self.latency_ms / 1000)
            if fault is not None and fault.kind == "hang":
                await asyncio.sleep(float(fault.args.get("seconds", 30.0)))
            elif fault is not None:
                return await self._apply_fault(fault, request, handler, override)
            if override is not None:
                return web.Response(body=override[1], status=override[0], content_type=override[2])
            return await handler(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _apply_fault(self, fault: Fault, request: web.Request, handler: Any,
                           override: tuple[int, bytes, str] | None) -> web.StreamResponse:
        """Build the faulty response for one request."""
        args = fault.args
        if fault.kind == "rate_limit":
            headers = {} if args.get("retry_after") is None else {"Retry-After": str(args["retry_after"])}
            if request.path.startswith(FINNHUB):
                return web.Response(status=429, body=self.fixture("finnhub/rate_limited_429.json"),
                                    content_type=_JSON, headers=headers)
            return web.Response(status=429, body=self.fixture("yahoo/rate_limited_429.txt"),
                                content_type="text/plain", headers=headers)
        if fault.kind == "error":
            return web.Response(status=int(args.get("status", 500)), text="stub error")
        if fault.kind == "malformed":
            return web.Response(text="<html><body><h1>Will be right back...</h1></body></html>",
                                content_type="text/html")
        if fault.kind == "av_limit":
            name = "rate_limit_note_legacy_5_per_minute" if args.get("variant") == "note" else \
                "rate_limit_information_25_per_day"
            return web.Response(body=self.fixture(f"alphavantage/{name}.json"), content_type=_JSON)
        # truncate: the normal answer, half of it
        if override is not None:
            status, body = override[0], override[1]
        else:
            full = await handler(request)
            status, body = full.status, full.body if isinstance(full.body, bytes) else b""
        cut = body[: max(1, len(body) // 2)]
        if args.get("mode") != "disconnect":
            return web.Response(body=cut, status=status, content_type=_JSON)
        resp = web.StreamResponse(status=status, headers={"Content-Type": _JSON})
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(cut)
        request.transport.close()
        return resp

    # -- handlers ---------------------------------------------------------------------------------

    def _is_unknown(self, symbol: str, recorded: str) -> bool:
        """True when `symbol` gets the recorded unknown-symbol answer."""
        sym = symbol.upper()
        return sym in self.unknown_symbols or (not self.synthesize and sym != recorded)

    def _serve(self, symbol: str, recorded: str, good: str, unknown: str | dict[str, Any],
               synth: Synth, unknown_status: int = 200) -> web.Response:
        """Recorded bytes for `recorded`, the unknown answer for unknown symbols, else synth(copy, symbol)."""
        if self._is_unknown(symbol, recorded):
            if isinstance(unknown, dict):
                return _json(unknown, unknown_status)
            return web.Response(body=self.fixture(unknown), status=unknown_status, content_type=_JSON)
        if symbol == recorded:
            return web.Response(body=self.fixture(good), content_type=_JSON)
        data = self.fixture_json(good)
        synth(data, symbol)
        return _json(data)

    async def _yahoo_chart(self, request: web.Request) -> web.Response:
        symbol, q = request.match_info["symbol"], request.query
        if "period1" not in q or self._is_unknown(symbol, "AAPL"):
            return self._serve(symbol, "AAPL", CHART_1D, CHART_UNKNOWN, _synth_chart, unknown_status=404)
        p1, p2 = int(q["period1"]), int(q.get("period2") or time.time())
        name = next((n for n, lo, hi in CHART_RANGES if p1 < hi and p2 > lo), None)
        if name is None:
            data = self.fixture_json(CHART_1D)
            _synth_chart(data, symbol)
            return _json(_generate_bars(data, symbol, p1, p2))
        data = self.fixture_json(name)
        if symbol != "AAPL":
            _synth_chart(data, symbol)
        result = data["chart"]["result"][0]  # keep the bars stamped in [p1, p2), as Yahoo does
        keep = [i for i, t in enumerate(result["timestamp"]) if p1 <= t < p2]
        result["timestamp"] = [result["timestamp"][i] for i in keep]
        for block in (b for group in result["indicators"].values() for b in group):
            block.update({k: [v[i] for i in keep] for k, v in block.items()})
        if not keep:
            del result["timestamp"]
        return _json(data)

    async def _yahoo_cookie(self, request: web.Request) -> web.Response:
        """fc.yahoo.com: a 404 page that sets the A3 cookie."""
        resp = web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")
        resp.set_cookie("A3", "d=AQABBstub&S=AQAAAstub", domain=None, path="/", httponly=True, secure=False)
        return resp

    async def _yahoo_crumb(self, request: web.Request) -> web.Response:
        """getcrumb: the crumb as plain text, for a request that carries the A3 cookie."""
        if "A3" not in request.cookies:
            return web.Response(status=403, text="")
        return web.Response(text=self.crumb, content_type="text/plain")

    async def _yahoo_v7_quote(self, request: web.Request) -> web.Response:
        """v7 quote of comma-separated symbols: recorded AAPL/BABA entries, others scaled from AAPL's."""
        if "A3" not in request.cookies or request.query.get("crumb") != self.crumb:
            return web.Response(status=401, body=self.fixture("yahoo/v7_quote_unauthorized_invalid_crumb_401.json"),
                                content_type=_JSON)
        recorded = self.fixture_json(V7_QUOTE)
        by_symbol = {item["symbol"]: item for item in recorded["quoteResponse"]["result"]}
        result = []
        for symbol in filter(None, request.query.get("symbols", "").split(",")):
            if self._is_unknown(symbol, "AAPL") and symbol not in by_symbol:
                continue  # Yahoo leaves unknown symbols out of the result
            item = by_symbol.get(symbol)
            if item is None:
                item = dict(by_symbol["AAPL"], symbol=symbol, shortName=f"{symbol} Synthetic",
                            longName=f"{symbol} Synthetic Corp")
                factor = synthetic_price(symbol) / item["regularMarketPrice"]
                for key in ("regularMarketPrice", "regularMarketPreviousClose", "regularMarketOpen",
                            "regularMarketDayHigh", "regularMarketDayLow", "regularMarketChange",
                            "bid", "ask", "postMarketPrice", "postMarketChange", "fiftyTwoWeekHigh", "fiftyTwoWeekLow"):
                    if key in item:
                        item[key] = _scale(item[key], factor)
                item["regularMarketPrice"] = synthetic_price(symbol)
            result.append(item)
        return _json({"quoteResponse": {"result": result, "error": None}})

    async def _yahoo_search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "").strip()
        if query.upper() == "AAPL":
            return web.Response(body=self.fixture("yahoo/v1_search_AAPL.json"), content_type=_JSON)
        data = {**self.fixture_json("yahoo/v1_search_AAPL.json"), "quotes": [], "news": [], "count": 0}
        if query and not self._is_unknown(query, "AAPL"):
            sym = query.upper()
            data["count"], data["quotes"] = 1, [{
                "exchange": "NMS", "shortname": f"{sym} Synthetic", "longname": f"{sym} Synthetic Corp",
                "quoteType": "EQUITY", "symbol": sym, "index": "quotes", "score": 1000, "typeDisp": "Equity",
                "exchDisp": "NASDAQ", "isYahooFinance": True}]
        return _json(data)

    def _finnhub(self, good: str, unknown: str | dict[str, Any], synth: Synth) -> Any:
        """A handler for a Finnhub symbol endpoint (401 without a token: the stub's own rule)."""
        async def handler(request: web.Request) -> web.Response:
            if not (request.headers.get("X-Finnhub-Token") or request.query.get("token")):
                return _json({"error": "Please use an API key."}, status=401)
            return self._serve(request.query.get("symbol", ""), "AAPL", f"finnhub/{good}", unknown, synth)
        return handler

    async def _fh_candle(self, request: web.Request) -> web.Response:
        q = request.query
        symbol, data = q.get("symbol", ""), self.fixture_json("finnhub/stock_candle_AAPL_D.json")
        keep = [i for i, t in enumerate(data["t"]) if int(q.get("from", 0)) <= t <= int(q.get("to", 2**31))]
        if self._is_unknown(symbol, "AAPL") or not keep:
            return web.Response(body=self.fixture("finnhub/stock_candle_no_data.json"), content_type=_JSON)
        factor = 1.0 if symbol == "AAPL" else synthetic_price(symbol) / data["c"][-1]
        for key in ("c", "h", "l", "o", "t", "v"):
            values = [data[key][i] for i in keep]
            data[key] = _scale(values, factor) if key in ("c", "h", "l", "o") else values
        return _json(data)

    async def _fh_split(self, request: web.Request) -> web.Response:
        """/stock/split in the shape of Finnhub's API docs (not a recording: none is in the fixtures)."""
        if not (request.headers.get("X-Finnhub-Token") or request.query.get("token")):
            return _json({"error": "Please use an API key."}, status=401)
        q = request.query
        known = [{"symbol": "AAPL", "date": "2014-06-09", "fromFactor": 1, "toFactor": 7},
                 {"symbol": "AAPL", "date": "2020-08-31", "fromFactor": 1, "toFactor": 4}]
        return _json([dict(item, symbol=q.get("symbol", "")) for item in known
                      if q.get("symbol") == "AAPL" and q.get("from", "") <= item["date"] <= q.get("to", "9999")])

    async def _av_query(self, request: web.Request) -> web.Response:
        q = request.query
        if not q.get("apikey"):
            return _json({"Error Message": "the parameter apikey is invalid or missing. Please claim your free "
                                           "API key on (https://www.alphavantage.co/support/#api-key)."})
        function = q.get("function", "")
        if function not in _AV:
            return web.Response(body=self.fixture("alphavantage/error_message_invalid_api_call.json"),
                                content_type=_JSON)
        recorded, good, unknown, synth = _AV[function]
        symbol = q.get("tickers" if function == "NEWS_SENTIMENT" else "symbol", "")
        return self._serve(symbol, recorded, f"alphavantage/{good}", f"alphavantage/{unknown}", synth)


# -- synthesis: turn a recorded body into one for another symbol, in place -----------------------


def _synth_chart(data: dict[str, Any], symbol: str) -> None:
    """A Yahoo chart at the symbol's synthetic price (every price field scaled)."""
    result = data["chart"]["result"][0]
    meta = result["meta"]
    factor = synthetic_price(symbol) / meta["regularMarketPrice"]
    for key in ("chartPreviousClose", "previousClose", "regularMarketDayHigh", "regularMarketDayLow",
                "fiftyTwoWeekHigh", "fiftyTwoWeekLow"):
        if key in meta:
            meta[key] = _scale(meta[key], factor, 2)
    meta.update(symbol=symbol, longName=f"{symbol} Synthetic Corp", shortName=f"{symbol} Synthetic",
                regularMarketPrice=synthetic_price(symbol))
    for block in result["indicators"]["quote"]:
        block.update({k: _scale(block[k], factor) for k in ("open", "high", "low", "close")})
    for block in result["indicators"].get("adjclose", []):
        block["adjclose"] = _scale(block["adjclose"], factor)


def _generate_bars(data: dict[str, Any], symbol: str, p1: int, p2: int) -> dict[str, Any]:
    """Fill a chart with a weekday bar per day in [p1, p2) at 14:30 UTC, a random walk seeded by symbol."""
    result = data["chart"]["result"][0]
    seed, price = zlib.crc32(symbol.encode()), synthetic_price(symbol)
    cols: dict[str, list[Any]] = {k: [] for k in ("timestamp", "open", "high", "low", "close", "volume")}
    day = datetime.fromtimestamp(p1 - p1 % 86400, timezone.utc) + timedelta(hours=14, minutes=30)
    while day.timestamp() < p2:
        if day.weekday() < 5 and day.timestamp() >= p1:
            seed = (seed * 1103515245 + 12345) % 2**31
            close = round(price * (1 + (seed % 2001 - 1000) / 50_000), 4)  # ±2 % a day
            for key, value in (("timestamp", int(day.timestamp())), ("open", price), ("close", close),
                               ("high", round(max(price, close) * 1.005, 4)),
                               ("low", round(min(price, close) * 0.995, 4)), ("volume", 1_000_000 + seed % 5_000_000)):
                cols[key].append(value)
            price = close
        day += timedelta(days=1)
    stamps = cols.pop("timestamp")
    result.pop("timestamp", None)
    result.update({"timestamp": stamps} if stamps else {})
    result["indicators"] = {"quote": [cols], "adjclose": [{"adjclose": list(cols["close"])}]}
    return data


def _relabel(**templates: str) -> Synth:
    """A synthesiser that sets each key to its template formatted with the symbol ({s})."""
    def synth(data: dict[str, Any], symbol: str) -> None:
        data.update({k: t.format(s=symbol) for k, t in templates.items()})
    return synth


def _synth_fh_quote(data: dict[str, Any], symbol: str) -> None:
    """Finnhub /quote at the synthetic price, with the live API's d/dp fields."""
    factor = synthetic_price(symbol) / data["c"]
    data.update({k: _scale(v, factor, 2) for k, v in data.items() if k != "t"}, c=synthetic_price(symbol))
    data["d"] = round(data["c"] - data["pc"], 4)
    data["dp"] = round(data["d"] / data["pc"] * 100, 4)


def _synth_fh_news(data: list[dict[str, Any]], symbol: str) -> None:
    """Finnhub /company-news relabelled."""
    for item in data:
        item["related"] = symbol


def _synth_av_quote(data: dict[str, Any], symbol: str) -> None:
    """Alpha Vantage GLOBAL_QUOTE at the synthetic price (strings with 4 decimals)."""
    gq = data["Global Quote"]
    factor = synthetic_price(symbol) / float(gq["05. price"])
    for key in ("02. open", "03. high", "04. low", "08. previous close", "09. change"):
        gq[key] = f"{float(gq[key]) * factor:.4f}"
    gq["01. symbol"], gq["05. price"] = symbol, f"{synthetic_price(symbol):.4f}"


def _synth_av_daily(data: dict[str, Any], symbol: str) -> None:
    """Alpha Vantage TIME_SERIES_DAILY scaled so the latest close is the synthetic price."""
    data["Meta Data"]["2. Symbol"] = symbol
    series = data["Time Series (Daily)"]
    factor = synthetic_price(symbol) / float(next(iter(series.values()))["4. close"])
    for row in series.values():
        row.update({k: f"{float(row[k]) * factor:.4f}" for k in ("1. open", "2. high", "3. low", "4. close")})


def _synth_av_news(data: dict[str, Any], symbol: str) -> None:
    """Alpha Vantage NEWS_SENTIMENT relabelled."""
    for item in data["feed"]:
        item["ticker_sentiment"][0]["ticker"] = symbol


# function → (recorded symbol, fixture, unknown-symbol fixture, synthesiser)
_AV: dict[str, tuple[str, str, str, Synth]] = {
    "GLOBAL_QUOTE": ("MSFT", "global_quote_MSFT.json", "global_quote_unknown_symbol.json", _synth_av_quote),
    "TIME_SERIES_DAILY": ("IBM", "time_series_daily_IBM_compact.json", "error_message_invalid_api_call.json",
                          _synth_av_daily),
    "OVERVIEW": ("IBM", "overview_IBM.json", "empty_object_response.json", _relabel(Symbol="{s}", Name="{s} Synthetic Corp")),
    "NEWS_SENTIMENT": ("AAPL", "news_sentiment_AAPL.json", "news_sentiment_invalid_inputs.json", _synth_av_news),
}


def start_stub_server(fixtures_dir: Path | str | None = None, **kwargs: Any) -> StubServer:
    """Start a StubServer on 127.0.0.1 at a free port and return it (call .stop() when done)."""
    return StubServer(fixtures_dir, **kwargs).start()
