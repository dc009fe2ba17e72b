"""The client processes of `bench/live.py`: many lightweight Socket.IO connections per process.

    python bench/live_client.py URL N SYMBOL [--token T] [--lib proto|aiohttp] [--gate 25]

Connects N clients to the `/live` namespace of URL (Engine.IO 4 / Socket.IO 5 over a
websocket, written by hand: open, namespace connect with the auth, `subscribe` with its ack
checked, pings answered), prints {"ready": true, "connected": n}, records (sent_at, arrival)
of every `quote` from then on and, when the driver writes the measured window {"start",
"end"} to its stdin, prints what arrived in that window and exits.

--lib proto (the default) is one asyncio.Protocol per connection that parses the websocket
frames itself and reads `sent_at` out of the frame's text without json.loads: a few
microseconds per message, so that 10,000 connections cost the machine little next to the
servers they measure. --lib aiohttp is the earlier client over aiohttp's websocket (about
5x the CPU per message), kept to cross-check the two.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import resource
import sys
import time
from urllib.parse import urlsplit

QUOTE = '42/live,["quote",'
HANDSHAKE_TIMEOUT_S = 60.0


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Lost(Exception):
    """The server closed or refused a connection during the handshake."""


def sent_at_of(text: str) -> float:
    """The `sent_at` of a `quote` packet, read without parsing the whole quote."""
    i = text.rfind('"sent_at": ')
    if i < 0:
        return float(json.loads(text[8:])[1]["sent_at"])
    i += 11
    j = i
    while text[j] not in ",}":
        j += 1
    return float(text[i:j])


class SocketIOProtocol(asyncio.Protocol):
    """One Socket.IO client on a bare TCP connection: HTTP upgrade, then websocket frames by hand."""

    def __init__(self, host: str, auth: str, subscribe: str, symbol: str, got: list) -> None:
        self.host, self.auth, self.subscribe, self.symbol, self.got = host, auth, subscribe, symbol, got
        self.buf = b""
        self.upgraded = False
        self.state = "open"
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {self.host}\r\n"
                         f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                         f"Sec-WebSocket-Version: 13\r\n\r\n").encode())

    def send_text(self, text: str) -> None:
        """Send one masked text frame (mask 0: the payload goes as it is; servers do not check)."""
        payload = text.encode()
        n = len(payload)
        head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
        assert self.transport is not None
        self.transport.write(head + b"\0\0\0\0" + payload)

    def data_received(self, data: bytes) -> None:  # type: ignore[override]
        now = time.time()  # one arrival time per read: every frame of this read arrived by then
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                return self._fail(Lost(buf[:end].decode(errors="replace").splitlines()[0]))
            self.upgraded, buf = True, buf[end + 4:]
        pos, size = 0, len(buf)
        while size - pos >= 2:
            opcode, n = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if size - pos < head + n:
                break
            payload = buf[pos + head:pos + head + n]
            pos += head + n
            if opcode == 1:
                text = payload.decode()
                if text.startswith(QUOTE):
                    self.got.append((sent_at_of(text), now))
                elif text == "2":
                    self.send_text("3")
                elif self.state != "subscribed":
                    self._handshake(text)
            elif opcode == 8:
                self._fail(Lost("closed by the server"))
            elif opcode == 9:  # a websocket ping: pong with its payload (masked with 0)
                assert self.transport is not None
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
        self.buf = buf[pos:]

    def _handshake(self, text: str) -> None:
        if self.state == "open" and text.startswith("0{"):
            self.send_text("40/live," + self.auth)
            self.state = "connect"
        elif self.state == "connect" and text.startswith("40/live,"):
            if "sid" not in json.loads(text[8:] or "{}"):
                return self._fail(Lost(text))
            self.send_text("42/live,1" + self.subscribe)
            self.state = "subscribe"
        elif self.state == "subscribe" and text.startswith("43/live,1["):
            if self.symbol not in json.loads(text[9:])[0].get("subscribed", []):
                return self._fail(Lost(text))
            self.state = "subscribed"
            if not self.ready.done():
                self.ready.set_result(True)
        elif text.startswith(("44/live,", "41/live,", "1")):
            self._fail(Lost(text))

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:  # type: ignore[override]
        if not self.ready.done():
            self.ready.set_exception(Lost(f"connection lost: {exc!r}"))


async def _proto_client(url: str, auth: str, subscribe: str, symbol: str, got: list, connected: list,
                        failed: list, gate: asyncio.Semaphore) -> None:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    async with gate:
        transport = None
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                transport, proto = await loop.create_connection(
                    lambda: SocketIOProtocol(parts.netloc, auth, subscribe, symbol, got), parts.hostname, parts.port)
                await proto.ready
            connected.append(transport)
        except Exception as exc:  # noqa: BLE001 - counted as a failed connection
            failed.append(repr(exc))
            got.clear()  # a failed client's messages count nowhere
            if transport is not None:
                transport.close()


async def _aiohttp_client(session, url: str, auth: str, subscribe: str, symbol: str, got: list,
                          connected: list, failed: list, gate: asyncio.Semaphore) -> None:
    import aiohttp

    ws = None
    async with gate:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                ws = await session.ws_connect(url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket",
                                              autoping=True, max_msg_size=0)
                state = "open"
                while state != "subscribed":
                    msg = await ws.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        raise Lost(f"closed during the handshake: {msg.type}")
                    data = msg.data
                    if data.startswith(QUOTE):  # a tick can overtake the subscribe ack
                        got.append((sent_at_of(data), time.time()))
                    elif data == "2":
                        await ws.send_str("3")
                    elif state == "open" and data.startswith("0{"):
                        await ws.send_str("40/live," + auth)
                        state = "connect"
                    elif state == "connect" and data.startswith("40/live,"):
                        await ws.send_str("42/live,1" + subscribe)
                        state = "subscribe"
                    elif state == "subscribe" and data.startswith("43/live,1["):
                        if symbol not in json.loads(data[9:])[0].get("subscribed", []):
                            raise Lost(data)
                        state = "subscribed"
                    elif data.startswith(("44/live,", "41/live,", "1")):
                        raise Lost(data)
        except Exception as exc:  # noqa: BLE001 - counted as a failed connection
            failed.append(repr(exc))
            got.clear()
            if ws is not None:
                await ws.close()
            return
    connected.append(ws)
    while True:
        msg = await ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            return
        if msg.data.startswith(QUOTE):
            got.append((sent_at_of(msg.data), time.time()))
        elif msg.data == "2":
            await ws.send_str("3")


async def run_clients(url: str, n: int, token: str | None, symbol: str, lib: str, gate_size: int) -> dict:
    """Connect n clients, report readiness, then report what arrived in the driver's window."""
    received: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    connected: list = []
    failed: list[str] = []
    gate = asyncio.Semaphore(gate_size)
    auth = json.dumps({"token": token}) if token else ""
    subscribe = json.dumps(["subscribe", {"symbols": [symbol]}])
    session = tasks = None
    started = time.monotonic()
    if lib == "proto":
        await asyncio.gather(*(_proto_client(url, auth, subscribe, symbol, received[i], connected, failed, gate)
                               for i in range(n)))
    else:
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True))
        tasks = [asyncio.create_task(_aiohttp_client(session, url, auth, subscribe, symbol, received[i],
                                                     connected, failed, gate)) for i in range(n)]
        while len(connected) + len(failed) < n:
            await asyncio.sleep(0.05)
    # The connections live to the end: keep full collections (tens of ms with thousands of
    # connections, mid-tick) from walking them.
    gc.collect()
    gc.freeze()
    print(json.dumps({"ready": True, "connected": len(connected), "connect_s": time.monotonic() - started}),
          flush=True)
    window = json.loads(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    start, end = window["start"], window["end"]
    sent = sorted({s for msgs in received for s, _ in msgs if start <= s < end})
    lat = [round((r - s) * 1000, 3) for msgs in received for s, r in msgs if start <= s < end]
    got = sum(len({s for s, _ in msgs if start <= s < end}) for msgs in received)
    for conn in connected:
        if lib == "proto":
            conn.close()
        else:
            await conn.close()
    if session is not None:
        await session.close()
        for task in tasks or ():
            task.cancel()
    return {"connected": len(connected), "failed": len(failed), "errors": sorted(set(failed))[:3], "sent": sent,
            "delivered": got, "latency_ms": lat}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("n", type=int)
    parser.add_argument("symbol")
    parser.add_argument("--token")
    parser.add_argument("--lib", choices=("proto", "aiohttp"), default="proto")
    parser.add_argument("--gate", type=int, default=25, help="handshakes in flight at once")
    args = parser.parse_args()
    raise_nofile()
    result = asyncio.run(run_clients(args.url, args.n, args.token, args.symbol, args.lib, args.gate))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
