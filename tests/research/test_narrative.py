"""The stock page's "why" text: the template (deterministic, gettext, every input optional) and the optional
LLM (a real local chat-completions server): its text, its cache, and the template after every kind of failure,
with the key in no log line and no returned value."""
from __future__ import annotations

import asyncio
import copy
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from app.research import narrative as narrative_module
from app.research.narrative import narrative, template_text

KEY = "sk-test-SECRETKEY-0123456789abcdef"
MODEL = "tiny-test-model"
LLM_TEXT = "SAP scores 71.3 out of 100. The forecast is hypothetical. News is mixed."
DE = {"Accept-Language": "de-DE,de;q=0.9"}

SCORE = {
    "symbol": "SAP", "score": 71.3, "rank": 4, "of": 40, "universe": "DAX", "confidence": 0.8,
    "factors": {
        "performance": {"score": 80.1, "weight": 0.3, "confidence": 1.0, "inputs": {"return_6m": 0.12}},
        "fundamental": {"score": 64.0, "weight": 0.25, "confidence": 0.8, "inputs": {}},
        "sentiment": {"score": 22.5, "weight": 0.15, "confidence": 1.0, "inputs": {}},
        "sector": {"score": 55.0, "weight": 0.15, "confidence": 1.0, "inputs": {}},
        "momentum": {"score": 91.0, "weight": 0.15, "confidence": 0.0, "inputs": {}},  # no input: not a finding
    },
}
FORECAST = {
    "symbol": "SAP", "as_of": "2026-12-04", "horizon_days": 20, "price": 101.2,
    "quantiles": {"p10": -0.07, "p50": 0.004, "p90": 0.08},
    "band": {"p10": 94.1, "p50": 101.6, "p90": 109.3},
    "naive": {"p10": -0.075, "p50": 0.0, "p90": 0.077},
    "record": {"origins": 1234, "pinball_loss": 0.031, "naive_pinball_loss": 0.030, "skill": -0.03,
               "coverage_80": 0.78, "naive_coverage_80": 0.81, "hit_rate": 0.51, "beats_naive": False},
    "verdict": "no_skill", "simulated": True, "model": {"name": "quantile-gbm"},
}
NEWS = {
    "items": [{"headline": f"Headline {i}", "url": None, "published_at": "2026-12-03T10:00:00+00:00",
               "publisher": "Wire", "summary": "", "sentiment": 0.3, "label": "positive"} for i in range(3)],
    "sentiment": {"score": 0.31, "label": "positive", "count": 3, "positive": 3, "negative": 0, "neutral": 0},
    "source": "demo",
}


def skilled_forecast() -> dict[str, Any]:
    forecast = copy.deepcopy(FORECAST)
    forecast["record"].update(beats_naive=True, skill=0.06, pinball_loss=0.028)
    forecast["verdict"], forecast["simulated"] = "skill", False
    return forecast


# --------------------------------------------------------------------------
# a local OpenAI-compatible chat-completions server
# --------------------------------------------------------------------------

class ChatStub:
    """`POST /v1/chat/completions` on 127.0.0.1 (own thread and loop); records every request it gets.

    `mode`: "ok" (answers `reply`), "sleep" (waits `sleep_s`, then answers), "status" (`status` with an
    error body), "malformed" (not JSON), "no_choices" (JSON without choices), "empty" (blank content),
    "huge" (a valid answer of ~200 KiB).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.mode = "ok"
        self.reply = LLM_TEXT
        self.sleep_s = 3.0
        self.status = 500
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ChatStub:
        ready = threading.Event()

        def run() -> None:
            self._loop = loop = asyncio.new_event_loop()
            loop.run_until_complete(self._startup())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="chat-stub", daemon=True)
        self._thread.start()
        assert ready.wait(10), "chat stub did not start"
        return self

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append({"headers": dict(request.headers), "body": json.loads(raw)})
        mode = self.mode
        if mode == "sleep":
            await asyncio.sleep(self.sleep_s)
        if mode == "status":
            return web.json_response({"error": {"message": "boom"}}, status=self.status)
        if mode == "malformed":
            return web.Response(text='{"choices": [{"message": ', content_type="application/json")
        if mode == "no_choices":
            return web.json_response({"id": "x", "object": "chat.completion"})
        content = {"empty": "   \n ", "huge": "word " * 40_000}.get(mode, self.reply)
        return web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "model": MODEL,
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": content}}]})


@pytest.fixture
def stub() -> Iterator[ChatStub]:
    server = ChatStub().start()
    yield server
    server.stop()


@pytest.fixture
def llm_app(make_app, stub) -> Callable[..., Any]:
    """An app whose LLM is the stub (key set, 0.5 s timeout); overrides for the variations."""
    def build(**overrides: Any):
        config = {"LLM_BASE_URL": stub.base_url, "LLM_API_KEY": KEY, "LLM_MODEL": MODEL, "LLM_TIMEOUT_S": 0.5,
                  "LLM_CACHE_S": 604800.0, **overrides}
        return make_app(**config)
    return build


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """Everything logged in the test so far: structlog's lines (the project's logger writes each to the
    sys.stderr of the moment, which capsys holds during the test) and the standard library's records."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def read() -> str:
        captured = capsys.readouterr()
        seen.append(captured.out + captured.err)
        return "".join(seen) + "\n" + caplog.text

    return read


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def user_message(request: dict[str, Any]) -> str:
    return next(m["content"] for m in request["body"]["messages"] if m["role"] == "user")


def facts_sent(request: dict[str, Any]) -> dict[str, Any]:
    message = user_message(request)
    return json.loads(message[message.index("{"):])


# --------------------------------------------------------------------------
# 1. the template
# --------------------------------------------------------------------------

def test_template_is_deterministic_and_names_strongest_and_weakest_factor(app):
    with app.test_request_context():
        first = template_text("SAP", SCORE, FORECAST, NEWS)
        again = template_text("SAP", copy.deepcopy(SCORE), copy.deepcopy(FORECAST), copy.deepcopy(NEWS))
    assert first == again
    assert "SAP" in first and "71.3" in first and "rank 4 of 40 in DAX" in first
    # Momentum scores 91 but has no input (confidence 0): Performance is the strongest, sentiment the weakest.
    assert "strongest factor is Performance (80.1)" in first
    assert "weakest News sentiment (22.5)" in first
    assert "Momentum" not in first
    assert "hypothetical" in first and "20 trading days" in first
    assert "101.60" in first and "94.10" in first and "109.30" in first and "+0.4 %" in first
    assert "3 recent headlines" in first and "positive" in first
    assert "simulated" in first
    sentences = [s for s in first.replace("“no change”.", "no change.").split(". ") if s]
    assert 3 <= len(sentences) <= 5, first


def test_template_says_plainly_when_the_model_does_not_beat_the_naive_forecast(app):
    with app.test_request_context():
        unskilled = template_text("SAP", SCORE, FORECAST, NEWS)
        skilled = template_text("SAP", SCORE, skilled_forecast(), NEWS)
    assert "does not beat the naive forecast" in unskilled
    assert "no better than “no change”" in unskilled
    assert "1,234 out-of-sample forecasts" in unskilled
    assert "does not beat" not in skilled and "no better than" not in skilled
    assert "beats the naive forecast" in skilled and "78 %" in skilled
    assert "simulated" not in skilled  # neither the score nor this forecast is simulated


def test_template_without_a_record_does_not_claim_skill(app):
    forecast = {**FORECAST, "record": None}
    with app.test_request_context():
        text = template_text("SAP", SCORE, forecast, NEWS)
    assert "no out-of-sample record" in text and "beats the naive" not in text


def test_template_works_with_every_input_missing(app):
    with app.test_request_context():
        text = template_text("SAP", None, None, None)
        result = narrative("SAP", None, None, None)
    assert "No growth score is available for SAP" in text
    assert "No forecast is available" in text and "news could not be read" in text
    assert "simulated" not in text
    assert result == {"text": text, "source": "template", "model": None, "generated_at": None}
    with app.app_context():  # outside a request (a job): English
        assert template_text("SAP", None, None, None) == text


def test_template_tolerates_partial_and_odd_inputs(app):
    score = {"symbol": "SAP", "score": 50.0, "factors": {"performance": {"score": float("nan")}}}
    forecast = {"symbol": "SAP", "quantiles": {"p50": 0.01}}
    news = {"items": [], "sentiment": {"score": None, "label": "neutral", "count": 0}}
    with app.test_request_context():
        text = template_text("SAP", score, forecast, news)
    assert text.startswith("SAP has a growth score of 50.0 out of 100.")
    assert "+1.0 %" in text and "No recent headlines" in text and "no out-of-sample record" in text


def test_one_headline_is_singular(app):
    news = {**NEWS, "items": NEWS["items"][:1], "sentiment": {**NEWS["sentiment"], "count": 1}}
    with app.test_request_context():
        text = template_text("SAP", SCORE, FORECAST, news)
    assert "There is 1 recent headline;" in text


def test_every_sentence_goes_through_gettext_and_german_numbers(app, monkeypatch):
    seen: list[str] = []
    real_gettext, real_ngettext = narrative_module.gettext, narrative_module.ngettext

    def gettext(string, **variables):
        seen.append(real_gettext(string, **variables))
        return seen[-1]

    def ngettext(singular, plural, num, **variables):
        seen.append(real_ngettext(singular, plural, num, **variables))
        return seen[-1]

    monkeypatch.setattr(narrative_module, "gettext", gettext)
    monkeypatch.setattr(narrative_module, "ngettext", ngettext)
    with app.test_request_context(headers=DE):
        german = template_text("SAP", SCORE, FORECAST, NEWS)
        result = narrative("SAP", SCORE, FORECAST, NEWS)
    assert german and german == " ".join(seen[:len(seen) // 2])  # the text is nothing but gettext's sentences
    assert result["text"] == german and result["source"] == "template"
    assert "71,3" in german and "101,60" in german  # the page's language formats the numbers


# --------------------------------------------------------------------------
# 2. the LLM: its text, what it was sent, the cache
# --------------------------------------------------------------------------

def test_llm_text_with_key_model_and_facts_then_cached(llm_app, stub, logs):
    app = llm_app()
    with app.test_request_context():
        result = narrative("SAP", SCORE, FORECAST, NEWS)
        assert result["text"] == LLM_TEXT and result["source"] == "llm" and result["model"] == MODEL
        assert result["generated_at"] and result["generated_at"].endswith("+00:00")
        assert len(stub.requests) == 1
        request = stub.requests[0]
        assert request["headers"]["Authorization"] == f"Bearer {KEY}"
        body = request["body"]
        assert body["model"] == MODEL and body["temperature"] == 0 and 0 < body["max_tokens"] <= 400
        system, user = body["messages"]
        assert system["role"] == "system" and user["role"] == "user"
        assert "English" in system["content"] and "hypothetical" in system["content"]
        assert "advice" in system["content"]
        sent = facts_sent(request)
        assert sent["symbol"] == "SAP" and sent["score"]["value"] == 71.3
        assert sent["score"]["strongest"] == "performance" and sent["score"]["weakest"] == "sentiment"
        assert sent["forecast"]["record"]["beats_naive"] is False and sent["simulated"] is True
        assert sent["news"] == {"count": 3, "sentiment": "positive", "score": 0.31, "positive": 3,
                                "negative": 0, "neutral": 0}
        assert "Headline 0" not in user_message(request)  # only the facts: no headlines, no raw inputs

        again = narrative("SAP", copy.deepcopy(SCORE), copy.deepcopy(FORECAST), copy.deepcopy(NEWS))
        assert again == result and len(stub.requests) == 1  # the cache answered

        changed = narrative("SAP", {**SCORE, "score": 72.0}, FORECAST, NEWS)
        assert changed["source"] == "llm" and len(stub.requests) == 2
        assert facts_sent(stub.requests[1])["score"]["value"] == 72.0
    assert KEY not in logs() and KEY not in repr(result) and KEY not in repr(changed)


def test_llm_cache_is_per_language_and_the_prompt_names_it(llm_app, stub):
    app = llm_app()
    with app.test_request_context():
        narrative("SAP", SCORE, FORECAST, NEWS)
    with app.test_request_context(headers=DE):
        german = narrative("SAP", SCORE, FORECAST, NEWS)
        narrative("SAP", SCORE, FORECAST, NEWS)
    assert german["source"] == "llm" and len(stub.requests) == 2
    assert "German" in stub.requests[1]["body"]["messages"][0]["content"]


def test_llm_without_a_key_sends_no_authorization(llm_app, stub):
    app = llm_app(LLM_API_KEY=None)
    with app.test_request_context():
        result = narrative("SAP", SCORE, FORECAST, NEWS)
    assert result["source"] == "llm" and "Authorization" not in stub.requests[0]["headers"]


def test_llm_text_is_stripped_and_bounded(llm_app, stub):
    app = llm_app()
    stub.reply = "  \n" + "This is one fairly plain sentence about the stock. " * 60 + "\n "
    with app.test_request_context():
        result = narrative("SAP", SCORE, FORECAST, NEWS)
    assert result["source"] == "llm"
    assert len(result["text"]) <= 1500 and result["text"] == result["text"].strip()
    assert result["text"].endswith(".")


# --------------------------------------------------------------------------
# 3./4. failures fall back to the template, uncached as text, without the key
# --------------------------------------------------------------------------

def test_timeout_falls_back_to_the_template_quickly(llm_app, stub, logs):
    app = llm_app()
    stub.mode, stub.sleep_s = "sleep", 3.0
    with app.test_request_context():
        started = time.monotonic()
        result = narrative("SAP", SCORE, FORECAST, NEWS)
        elapsed = time.monotonic() - started
        expected = template_text("SAP", SCORE, FORECAST, NEWS)
    assert elapsed < 2.0, elapsed
    assert result == {"text": expected, "source": "template", "model": None, "generated_at": None}
    assert len(stub.requests) == 1
    out = logs()
    assert "narrative_llm_failed" in out and "timeout" in out
    assert KEY not in out and KEY not in repr(result)
    assert "Facts" not in out and "71.3" not in out  # not the prompt


@pytest.mark.parametrize("mode, kind", [("status", "status"), ("malformed", "malformed"),
                                        ("no_choices", "malformed"), ("empty", "empty"), ("huge", "too_large")])
def test_a_bad_answer_falls_back_to_the_template(llm_app, stub, logs, mode, kind):
    app = llm_app()
    stub.mode = mode
    with app.test_request_context():
        result = narrative("SAP", SCORE, FORECAST, NEWS)
        expected = template_text("SAP", SCORE, FORECAST, NEWS)
    assert result["source"] == "template" and result["text"] == expected and result["model"] is None
    assert len(stub.requests) == 1
    out = logs()
    assert out.count("narrative_llm_failed") == 1 and kind in out
    if mode == "status":
        assert "500" in out
    assert KEY not in out and KEY not in repr(result)


def test_connection_refused_falls_back_to_the_template(make_app, logs):
    app = make_app(LLM_BASE_URL=f"http://127.0.0.1:{closed_port()}/v1", LLM_API_KEY=KEY, LLM_MODEL=MODEL,
                   LLM_TIMEOUT_S=0.5)
    with app.test_request_context():
        started = time.monotonic()
        result = narrative("SAP", SCORE, FORECAST, NEWS)
        assert time.monotonic() - started < 2.0
        assert result["source"] == "template"
        assert result["text"] == template_text("SAP", SCORE, FORECAST, NEWS)
    out = logs()
    assert "narrative_llm_failed" in out and "connection" in out
    assert KEY not in out and KEY not in repr(result)


def test_a_dead_endpoint_is_not_asked_again_for_a_while(llm_app, stub):
    app = llm_app()
    stub.mode = "status"
    with app.test_request_context():
        narrative("SAP", SCORE, FORECAST, NEWS)
        stub.mode = "ok"
        # Other facts too: the endpoint failed, so the template answers without asking it again.
        other = narrative("BAS", {**SCORE, "symbol": "BAS"}, None, None)
    assert other["source"] == "template" and len(stub.requests) == 1


def test_a_failure_is_not_cached_as_text(llm_app, stub, monkeypatch):
    monkeypatch.setattr(narrative_module, "FAILURE_CACHE_S", 0.0)  # no negative cache: ask again at once
    app = llm_app()
    for mode in ("status", "empty"):
        stub.mode = mode
        with app.test_request_context():
            assert narrative("SAP", SCORE, FORECAST, NEWS)["source"] == "template"
    stub.mode = "ok"
    with app.test_request_context():
        result = narrative("SAP", SCORE, FORECAST, NEWS)
    assert result["source"] == "llm" and result["text"] == LLM_TEXT and len(stub.requests) == 3


# --------------------------------------------------------------------------
# 5./6. no key anywhere; no network without LLM_BASE_URL
# --------------------------------------------------------------------------

def test_the_key_is_in_no_log_line(llm_app, stub, logs):
    app = llm_app()
    results = []
    with app.test_request_context():
        results.append(narrative("SAP", SCORE, FORECAST, NEWS))             # success
        stub.mode = "malformed"
        results.append(narrative("SAP", {**SCORE, "score": 10.0}, None, None))  # a failure
    assert [r["source"] for r in results] == ["llm", "template"]
    out = logs()
    assert "narrative_llm_failed" in out
    assert KEY not in out and "SECRETKEY" not in out
    assert all(KEY not in json.dumps(r) for r in results)


class RecordingLog:
    """Stands in for the module's structlog logger: the events as logged, before any redaction."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda event, **fields: self.events.append((level, event, fields))


@pytest.mark.parametrize("mode", ["ok", "sleep", "status", "malformed", "empty", "refused"])
def test_one_warning_per_failure_and_never_the_key_or_the_prompt(llm_app, stub, monkeypatch, mode):
    recorded = RecordingLog()
    monkeypatch.setattr(narrative_module, "log", recorded)
    overrides = {"LLM_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1"} if mode == "refused" else {}
    app = llm_app(**overrides)
    stub.mode, stub.sleep_s = mode, 2.0
    with app.test_request_context():
        result = narrative("SAP", SCORE, FORECAST, NEWS)
        narrative("SAP", SCORE, FORECAST, NEWS)  # the cache (text or failure) answers: nothing new is logged
    if mode == "ok":
        assert result["source"] == "llm" and recorded.events == []
    else:
        assert result["source"] == "template"
        assert len(recorded.events) == 1, recorded.events
        level, event, fields = recorded.events[0]
        assert level == "warning" and event == "narrative_llm_failed"
        assert fields["kind"] == {"sleep": "timeout", "refused": "connection"}.get(mode, mode)
        assert fields["status"] == (500 if mode == "status" else 200 if mode in ("malformed", "empty") else None)
    logged = repr(recorded.events)
    assert KEY not in logged and KEY not in json.dumps(result)
    assert "Facts" not in logged and "71.3" not in logged  # nor the prompt


def test_no_base_url_means_no_network(make_app, stub, monkeypatch):
    def no_bridge(*args, **kwargs):
        raise AssertionError("the bridge loop was used without LLM_BASE_URL")

    monkeypatch.setattr(narrative_module.aio, "run_sync", no_bridge)
    app = make_app(LLM_BASE_URL=None, LLM_API_KEY=KEY, LLM_MODEL=MODEL)
    with app.test_request_context():
        result = narrative("SAP", SCORE, FORECAST, NEWS)
        assert result["text"] == template_text("SAP", SCORE, FORECAST, NEWS)
    assert result["source"] == "template" and result["model"] is None and result["generated_at"] is None
    assert stub.requests == []


def test_the_stock_page_asks_for_the_generated_text_which_comes_from_the_llm(llm_app, stub, logs):
    """With an LLM configured the page shows the template's text at once and points its script at
    narrative.json, which answers with the generated text (and without one, with the template's)."""
    from bs4 import BeautifulSoup

    from tests.conftest import login_page, register_api

    app = llm_app(LLM_TIMEOUT_S=5.0)
    client = app.test_client()
    login_page(client, register_api(client)["email"])
    page = BeautifulSoup(client.get("/stocks/SAP.DE").get_data(as_text=True), "html.parser")
    why = page.select_one("[data-testid=why-text]")
    assert why["data-url"] == "/stocks/SAP.DE/narrative.json" and "SAP.DE" in why.get_text()
    assert stub.requests == []  # rendering the page asked nothing: the script asks, after it loads
    answer = client.get(why["data-url"]).get_json()
    assert answer["source"] == "llm" and answer["text"] == LLM_TEXT and answer["model"] == MODEL
    assert len(stub.requests) == 1 and "SAP.DE" in user_message(stub.requests[0])
    stub.mode = "status"
    assert client.get("/stocks/SAP.DE/narrative.json").get_json()["text"] == LLM_TEXT  # cached a week
    assert len(stub.requests) == 1
    assert KEY not in logs()
    assert client.get("/stocks/NOPE.XX/narrative.json").status_code == 404
