"""A Yahoo stand-in for bench/pipeline.py: v7 quotes and the v8 chart API in Yahoo's shape, with latency and a rate limit.

    python bench/pipeline_stub.py --port 0 [--latency-ms 80,150] [--rate-per-s 10]

Runs in its own process (so its CPU is not the bench's) and prints `{"port": N}` once it
listens. Quotes (`/v8/finance/chart/{symbol}?range=1d`) are the recorded AAPL body of
shared/fixtures/providers/yahoo/ with the symbol's price, `regularMarketTime` now and a
regular session around now (so the provider reports the market open). Batched quotes
(`/v7/finance/quote?symbols=A,B,...`, after the cookie at `/fc` and the crumb at
`/v1/test/getcrumb`) are the recorded AAPL entry of `v7_quote_AAPL_BABA.json` per symbol, with its
price, `regularMarketTime` now and `marketState` REGULAR. History
(`period1`/`period2`) is a deterministic daily random walk per symbol, weekdays only.
Every request waits a uniform latency in [low, high] ms; above `rate_per_s` (a token
bucket, burst one second's worth; 0 = none) it answers 429 with Yahoo's plain-text body
and `Retry-After: 1`.

Control, for the bench only: `POST /_bench/prices {"SYM": price}` moves prices and answers
the stub's wall-clock time at which the new prices are served; `POST /_bench/config`
changes latency and rate; `GET /_bench/stats` counts requests, 429s and the most in flight.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import zlib
from copy import deepcopy
from pathlib import Path

from aiohttp import web

FIXTURES = Path(os.environ.get("TICKERDESK_PROVIDER_FIXTURES") or "/work/shared/fixtures/providers")
DAY_S = 86_400


def base_price(symbol: str) -> float:
    """The stub's resting price of a symbol: deterministic, in [10, 1000) (FX pairs around 1)."""
    crc = zlib.crc32(symbol.upper().encode())
    if symbol.endswith("=X"):
        return round(0.5 + (crc % 1000) / 1000, 4)
    return round(10 + (crc % 99_000) / 100, 2)


class Stub:
    """The stub's state: prices that moved, latency, the token bucket and counters."""

    def __init__(self, latency_ms: tuple[float, float], rate_per_s: float) -> None:
        self.chart = json.loads((FIXTURES / "yahoo" / "v8_chart_AAPL_range_1d.json").read_text())
        self.v7_entry = json.loads((FIXTURES / "yahoo" / "v7_quote_AAPL_BABA.json").read_text())[
            "quoteResponse"]["result"][0]
        self.limited_body = (FIXTURES / "yahoo" / "rate_limited_429.txt").read_text()
        self.prices: dict[str, float] = {}
        self.latency_ms = latency_ms
        self.rate_per_s = rate_per_s
        self.tokens, self.refilled = rate_per_s, time.monotonic()
        self.requests = self.limited = self.in_flight = self.max_in_flight = 0

    def take_token(self) -> bool:
        if self.rate_per_s <= 0:
            return True
        now = time.monotonic()
        self.tokens = min(self.rate_per_s, self.tokens + (now - self.refilled) * self.rate_per_s)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def throttled(self, request: web.Request, answer) -> web.Response:  # noqa: ANN001 - a callable
        """Count, wait the latency, spend a token (else 429), then answer(request)."""
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(random.uniform(*self.latency_ms) / 1000)
            if not self.take_token():
                self.limited += 1
                return web.Response(status=429, text=self.limited_body, headers={"Retry-After": "1"})
            return answer(request)
        finally:
            self.in_flight -= 1

    async def chart_handler(self, request: web.Request) -> web.Response:
        def answer(request: web.Request) -> web.Response:
            symbol, q = request.match_info["symbol"], request.query
            if "period1" in q:
                return web.json_response(self.history(symbol, int(q["period1"]), int(q["period2"])))
            return web.json_response(self.quote(symbol))
        return await self.throttled(request, answer)

    async def cookie_handler(self, request: web.Request) -> web.Response:
        def answer(request: web.Request) -> web.Response:
            resp = web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")
            resp.set_cookie("A3", "d=AQABBbench&S=AQAAAbench", path="/")
            return resp
        return await self.throttled(request, answer)

    async def crumb_handler(self, request: web.Request) -> web.Response:
        def answer(request: web.Request) -> web.Response:
            return web.Response(text="benchCrumb1", status=200 if "A3" in request.cookies else 403)
        return await self.throttled(request, answer)

    async def v7_handler(self, request: web.Request) -> web.Response:
        def answer(request: web.Request) -> web.Response:
            if "A3" not in request.cookies or request.query.get("crumb") != "benchCrumb1":
                return web.json_response({"finance": {"result": None, "error": {
                    "code": "Unauthorized", "description": "Invalid Crumb"}}}, status=401)
            now = int(time.time())
            result = []
            for symbol in filter(None, request.query.get("symbols", "").split(",")):
                price, rest = self.prices.get(symbol, base_price(symbol)), base_price(symbol)
                result.append(dict(self.v7_entry, symbol=symbol, regularMarketPrice=price,
                                   regularMarketPreviousClose=rest, regularMarketChange=round(price - rest, 4),
                                   regularMarketChangePercent=round((price - rest) / rest * 100, 4),
                                   regularMarketDayHigh=max(price, rest), regularMarketDayLow=min(price, rest),
                                   regularMarketOpen=rest, regularMarketTime=now, marketState="REGULAR",
                                   currency="EUR" if symbol.endswith(".DE") else "USD"))
            return web.json_response({"quoteResponse": {"result": result, "error": None}})
        return await self.throttled(request, answer)

    def quote(self, symbol: str) -> dict:
        now = int(time.time())
        price = self.prices.get(symbol, base_price(symbol))
        data = deepcopy(self.chart)
        meta = data["chart"]["result"][0]["meta"]
        meta.update(symbol=symbol, regularMarketPrice=price, chartPreviousClose=round(base_price(symbol), 4),
                    regularMarketDayHigh=max(price, base_price(symbol)), regularMarketDayLow=min(price, base_price(symbol)),
                    regularMarketTime=now, currency="EUR" if symbol.endswith(".DE") else "USD")
        meta["currentTradingPeriod"]["regular"].update(start=now - 3600, end=now + 3600)
        data["chart"]["result"][0]["timestamp"] = [now]
        return data

    def history(self, symbol: str, period1: int, period2: int) -> dict:
        rng = random.Random(zlib.crc32(symbol.encode()))
        first = period1 - period1 % DAY_S + 14 * 3600  # bars stamped at a midday open
        stamps, closes = [], []
        price = base_price(symbol)
        for ts in range(first, period2, DAY_S):
            if time.gmtime(ts).tm_wday < 5:
                price = max(0.01, price * (1 + rng.gauss(0, 0.01)))
                stamps.append(ts)
                closes.append(round(price, 4))
        data = deepcopy(self.chart)
        result = data["chart"]["result"][0]
        result["meta"].update(symbol=symbol, range="", dataGranularity="1d")
        result["timestamp"] = stamps
        result["indicators"] = {"quote": [{"open": closes, "high": closes, "low": closes, "close": closes,
                                           "volume": [1000] * len(closes)}]}
        return data

    async def set_prices(self, request: web.Request) -> web.Response:
        self.prices.update({s: float(p) for s, p in (await request.json()).items()})
        return web.json_response({"at": time.time()})

    async def set_config(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "latency_ms" in body:
            self.latency_ms = tuple(body["latency_ms"])
        if "rate_per_s" in body:
            self.rate_per_s = self.tokens = float(body["rate_per_s"])
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        out = {"requests": self.requests, "rate_limited": self.limited, "max_in_flight": self.max_in_flight}
        if request.query.get("reset"):
            self.requests = self.limited = self.max_in_flight = 0
        return web.json_response(out)


def main() -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", default="80,150")
    parser.add_argument("--rate-per-s", type=float, default=0.0)
    args = parser.parse_args()
    low, high = (float(x) for x in args.latency_ms.split(","))
    stub = Stub((low, high), args.rate_per_s)
    app = web.Application()
    app.router.add_get("/v8/finance/chart/{symbol}", stub.chart_handler)
    app.router.add_get("/fc", stub.cookie_handler)
    app.router.add_get("/v1/test/getcrumb", stub.crumb_handler)
    app.router.add_get("/v7/finance/quote", stub.v7_handler)
    app.router.add_post("/_bench/prices", stub.set_prices)
    app.router.add_post("/_bench/config", stub.set_config)
    app.router.add_get("/_bench/stats", stub.stats)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
