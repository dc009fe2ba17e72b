"""The stock page's short "why" text: the growth score's factors, the 20-day forecast and its record, the news.

By default the text is built from a template (gettext, so English and German), deterministic and without
network. With ``LLM_BASE_URL`` set, an OpenAI-compatible chat-completions server writes it from the same
facts (compact JSON, nothing else); its text is cached for ``LLM_CACHE_S`` under a hash of (model, base URL,
locale, facts). Any failure of the server (timeout, refused connection, non-2xx, bad JSON, missing or empty
content) falls back to the template text and logs one warning naming the failure's kind and status -- never
the key, never the prompt. A failure is not cached as text; it is remembered for ``FAILURE_CACHE_S`` so a
dead endpoint is not asked on every page view: a server that gave no usable 2xx answer is skipped as a
whole, an answer whose body was unusable skips only those facts.

    narrative("SAP", stock_score("SAP"), forecast, news_for("SAP"))
    -> {"text": "...", "source": "template" | "llm", "model": str | None, "generated_at": iso str | None}
"""
from __future__ import annotations

import asyncio
import hashlib
import math
from datetime import datetime, timezone
from typing import Any

import aiohttp
import orjson
import structlog
from flask import current_app
from flask_babel import get_locale, gettext, ngettext
from yarl import URL

from app import aio
from app.analysis.sentiment import label as sentiment_label
from app.market.service import market_cache
from app.ops import i18n
from app.research.labels import FACTOR_LABELS

log = structlog.get_logger(__name__)

FACTORS = ("performance", "fundamental", "sentiment", "sector", "momentum")
LANGUAGES = {"en": "English", "de": "German"}
MAX_RESPONSE_BYTES = 64 * 1024   # read no more of the server's answer than this
MAX_TEXT_CHARS = 1500            # keep no more of the generated text than this
MAX_TOKENS = 300
FAILURE_CACHE_S = 300.0          # a failed endpoint (or facts) is not asked again for this long
CACHE_PREFIX = "narrative:"

SYSTEM_PROMPT = (
    "You write the short explanation on a stock research page. The user message holds the only facts you "
    "may use, as JSON; use no other knowledge and add no figures of your own. Write 3 to 5 plain sentences "
    "in {language}: no headings, no lists, no markdown. Explain the growth score (name its strongest and "
    "weakest factor), the forecast and the news. Say that the forecast is hypothetical. When "
    "forecast.record.beats_naive is false or the record is missing, say plainly that the model does not beat "
    "the naive forecast, so its median is no better than \"no change\". When simulated is true, say that the "
    "market data is simulated. When a part is null, say in a few words that it is unavailable. Give no "
    "investment advice and no recommendation to buy, sell or hold."
)


class LLMFailure(Exception):
    """The server gave no usable text: `kind` names why, `status` is its HTTP status when it answered."""

    def __init__(self, kind: str, status: int | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status = status


# --------------------------------------------------------------------------
# facts: the figures both the template and the model get
# --------------------------------------------------------------------------

def _num(value: Any, digits: int = 4) -> float | None:
    """A finite number rounded to `digits`, or None (missing, NaN, not a number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, digits) if math.isfinite(number) else None


def _pct(value: Any) -> float | None:
    """A fraction (0.004) as a percentage (0.4), rounded to 2 places."""
    number = _num(value, 6)
    return None if number is None else round(number * 100, 2)


def _int(value: Any) -> int | None:
    number = _num(value, 0)
    return None if number is None else int(number)


def _score_facts(score: dict | None) -> dict[str, Any] | None:
    if not isinstance(score, dict) or _num(score.get("score")) is None:
        return None
    factors: dict[str, float] = {}
    raw = score.get("factors") if isinstance(score.get("factors"), dict) else {}
    for name in [*FACTORS, *sorted(k for k in raw if isinstance(k, str) and k not in FACTORS)]:
        factor = raw.get(name)
        if not isinstance(factor, dict):
            continue
        value, confidence = _num(factor.get("score"), 1), _num(factor.get("confidence"), 2)
        if value is not None and confidence != 0:  # a factor without any input is a neutral 50, not a finding
            factors[name] = value
    # Ties go to the earlier factor (FACTORS' order), so the choice is deterministic.
    order = list(factors)
    strongest = max(order, key=lambda n: (factors[n], -order.index(n))) if factors else None
    weakest = min(order, key=lambda n: (factors[n], order.index(n))) if factors else None
    universe = score.get("universe")
    return {"value": _num(score["score"], 1), "rank": _int(score.get("rank")), "of": _int(score.get("of")),
            "universe": str(universe) if universe else None, "confidence": _num(score.get("confidence"), 2),
            "factors": factors, "strongest": strongest,
            "weakest": weakest if weakest != strongest else None}


def _forecast_facts(forecast: dict | None) -> dict[str, Any] | None:
    if not isinstance(forecast, dict):
        return None
    quantiles = forecast.get("quantiles") if isinstance(forecast.get("quantiles"), dict) else {}
    band = forecast.get("band") if isinstance(forecast.get("band"), dict) else {}
    changes = {k: _pct(quantiles.get(k)) for k in ("p10", "p50", "p90")}
    if changes["p50"] is None:
        return None
    prices = {k: _num(band.get(k)) for k in ("p10", "p50", "p90")}
    record = forecast.get("record") if isinstance(forecast.get("record"), dict) else None
    beats = record.get("beats_naive") if record else None
    return {
        "hypothetical": True,
        "as_of": str(forecast["as_of"])[:10] if forecast.get("as_of") else None,
        "horizon_days": _int(forecast.get("horizon_days")) or 20,
        "price": _num(forecast.get("price")),
        "change_pct": changes,
        "band": prices if all(v is not None for v in prices.values()) else None,
        "verdict": forecast.get("verdict") if isinstance(forecast.get("verdict"), str) else None,
        "record": None if record is None else {
            "origins": _int(record.get("origins")),
            "beats_naive": beats if isinstance(beats, bool) else None,
            "skill": _num(record.get("skill")),
            "pinball_loss": _num(record.get("pinball_loss")),
            "naive_pinball_loss": _num(record.get("naive_pinball_loss")),
            "coverage_80_pct": _pct(record.get("coverage_80")),
            "naive_coverage_80_pct": _pct(record.get("naive_coverage_80")),
            "hit_rate_pct": _pct(record.get("hit_rate")),
        },
    }


def _news_facts(news: dict | None) -> dict[str, Any] | None:
    if not isinstance(news, dict):
        return None
    sentiment = news.get("sentiment") if isinstance(news.get("sentiment"), dict) else {}
    items = news.get("items") if isinstance(news.get("items"), list) else []
    count = _int(sentiment.get("count"))
    score = _num(sentiment.get("score"))
    found = sentiment.get("label")
    return {"count": len(items) if count is None else count,
            "sentiment": found if found in ("positive", "negative", "neutral") else sentiment_label(score),
            "score": score,
            **{k: _int(sentiment.get(k)) for k in ("positive", "negative", "neutral")}}


def facts(symbol: str, score: dict | None, forecast: dict | None, news: dict | None) -> dict[str, Any]:
    """The figures the text is made of (JSON-able, rounded, so equal inputs give equal facts)."""
    simulated = any(isinstance(part, dict) and part.get("simulated") is True for part in (score, forecast))
    return {"symbol": str(symbol), "score": _score_facts(score), "forecast": _forecast_facts(forecast),
            "news": _news_facts(news), "simulated": simulated}


# --------------------------------------------------------------------------
# the template
# --------------------------------------------------------------------------

def _factor_label(name: str) -> str:
    return str(FACTOR_LABELS.get(name, name.replace("_", " ").capitalize()))


def _score_sentence(symbol: str, s: dict[str, Any] | None) -> str:
    if s is None:
        return gettext("No growth score is available for %(symbol)s yet.", symbol=symbol)
    values = {"symbol": symbol, "score": i18n.number(s["value"], 1)}
    ranked = s["rank"] is not None and s["of"] is not None and s["universe"]
    if ranked:
        values.update(rank=i18n.number(s["rank"], 0), of=i18n.number(s["of"], 0), universe=s["universe"])
    if s["strongest"] and s["weakest"]:
        values.update(strongest=_factor_label(s["strongest"]),
                      strongest_score=i18n.number(s["factors"][s["strongest"]], 1),
                      weakest=_factor_label(s["weakest"]), weakest_score=i18n.number(s["factors"][s["weakest"]], 1))
        if ranked:
            return gettext("%(symbol)s has a growth score of %(score)s out of 100, rank %(rank)s of %(of)s in "
                           "%(universe)s; its strongest factor is %(strongest)s (%(strongest_score)s), its "
                           "weakest %(weakest)s (%(weakest_score)s).", **values)
        return gettext("%(symbol)s has a growth score of %(score)s out of 100; its strongest factor is "
                       "%(strongest)s (%(strongest_score)s), its weakest %(weakest)s (%(weakest_score)s).", **values)
    if ranked:
        return gettext("%(symbol)s has a growth score of %(score)s out of 100, rank %(rank)s of %(of)s in "
                       "%(universe)s.", **values)
    return gettext("%(symbol)s has a growth score of %(score)s out of 100.", **values)


def _forecast_sentences(f: dict[str, Any] | None) -> list[str]:
    if f is None:
        return [gettext("No forecast is available yet.")]
    changes, days = f["change_pct"], f["horizon_days"]
    low, high = changes["p10"], changes["p90"]
    if f["band"] is not None and low is not None and high is not None:
        first = ngettext(
            "The hypothetical forecast for the next %(count)s trading day puts the median at %(median)s "
            "(%(change)s), with an 80 %% band from %(low)s to %(high)s.",
            "The hypothetical forecast for the next %(count)s trading days puts the median at %(median)s "
            "(%(change)s), with an 80 %% band from %(low)s to %(high)s.",
            days, count=i18n.number(days, 0), median=i18n.price(f["band"]["p50"]),
            change=i18n.percent(changes["p50"], 1), low=i18n.price(f["band"]["p10"]),
            high=i18n.price(f["band"]["p90"]))
    elif low is not None and high is not None:
        first = ngettext(
            "The hypothetical forecast for the next %(count)s trading day puts the median change at %(change)s, "
            "with an 80 %% band from %(low)s to %(high)s.",
            "The hypothetical forecast for the next %(count)s trading days puts the median change at %(change)s, "
            "with an 80 %% band from %(low)s to %(high)s.",
            days, count=i18n.number(days, 0), change=i18n.percent(changes["p50"], 1),
            low=i18n.percent(low, 1), high=i18n.percent(high, 1))
    else:
        first = ngettext(
            "The hypothetical forecast for the next %(count)s trading day puts the median change at %(change)s.",
            "The hypothetical forecast for the next %(count)s trading days puts the median change at %(change)s.",
            days, count=i18n.number(days, 0), change=i18n.percent(changes["p50"], 1))
    record = f["record"]
    origins = record["origins"] if record else None
    if record is None or origins is None or record["beats_naive"] is None:
        second = gettext("It has no out-of-sample record yet, so it is not shown to beat the naive forecast "
                         "of “no change”.")
    elif record["beats_naive"]:
        coverage = record["coverage_80_pct"]
        if coverage is None:
            second = ngettext("Over %(count)s out-of-sample forecast the model beats the naive forecast.",
                              "Over %(count)s out-of-sample forecasts the model beats the naive forecast.",
                              origins, count=i18n.number(origins, 0))
        else:
            second = ngettext(
                "Over %(count)s out-of-sample forecast the model beats the naive forecast, and %(coverage)s of "
                "the outcomes fell inside its 80 %% band.",
                "Over %(count)s out-of-sample forecasts the model beats the naive forecast, and %(coverage)s of "
                "the outcomes fell inside its 80 %% band.",
                origins, count=i18n.number(origins, 0), coverage=i18n.percent(coverage, 0, sign=False))
    else:
        second = ngettext(
            "Over %(count)s out-of-sample forecast the model does not beat the naive forecast, so its median is "
            "no better than “no change”.",
            "Over %(count)s out-of-sample forecasts the model does not beat the naive forecast, so its median is "
            "no better than “no change”.",
            origins, count=i18n.number(origins, 0))
    return [first, second]


def _news_sentence(n: dict[str, Any] | None) -> str:
    if n is None:
        return gettext("The news could not be read right now.")
    if not n["count"]:
        return gettext("No recent headlines were found.")
    mood = str(i18n.SENTIMENT_LABELS.get(n["sentiment"], n["sentiment"]))
    return ngettext("There is %(count)s recent headline; its sentiment is %(sentiment)s.",
                    "There are %(count)s recent headlines; their overall sentiment is %(sentiment)s.",
                    n["count"], count=i18n.number(n["count"], 0), sentiment=mood)


def _render(f: dict[str, Any]) -> str:
    sentences = [_score_sentence(f["symbol"], f["score"]), *_forecast_sentences(f["forecast"]),
                 _news_sentence(f["news"])]
    if f["simulated"]:
        sentences.append(gettext("The market here is simulated, not real."))
    return " ".join(sentences)


def template_text(symbol: str, score: dict | None, forecast: dict | None, news: dict | None) -> str:
    """The text built from the template, in the page's language (3 to 5 sentences; no network)."""
    return _render(facts(symbol, score, forecast, news))


# --------------------------------------------------------------------------
# the optional language model
# --------------------------------------------------------------------------

def narrative(symbol: str, score: dict | None, forecast: dict | None, news: dict | None) -> dict[str, Any]:
    """Return {"text", "source": "template" | "llm", "model", "generated_at"}; never raises for the LLM."""
    found = facts(symbol, score, forecast, news)
    config = current_app.config
    base_url = config.get("LLM_BASE_URL")
    if base_url:
        generated = _llm_text(found, str(base_url).rstrip("/"), config)
        if generated is not None:
            return {"text": generated["text"], "source": "llm", "model": generated["model"],
                    "generated_at": generated["generated_at"]}
    return {"text": _render(found), "source": "template", "model": None, "generated_at": None}


def _page_language() -> str:
    try:
        found = get_locale()
    except Exception:  # noqa: BLE001 - outside a context: the default language
        found = None
    language = getattr(found, "language", None) or i18n.DEFAULT_LOCALE
    return language if language in LANGUAGES else i18n.DEFAULT_LOCALE


def _digest(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(list(parts), option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _cache_get(key: str) -> Any:
    try:
        hit = market_cache().get(key)
    except Exception:  # noqa: BLE001 - a cache fault must not cost the page its text
        return None
    return None if hit is None or hit.stale else hit.value


def _cache_set(key: str, value: Any, ttl_s: float) -> None:
    try:
        market_cache().set(key, value, float(ttl_s), grace_s=0.0)
    except Exception:  # noqa: BLE001
        pass


def _llm_text(found: dict[str, Any], base_url: str, config: Any) -> dict[str, Any] | None:
    """The cached or freshly generated text ({text, model, generated_at}), or None after a failure (logged)."""
    model = str(config.get("LLM_MODEL") or "")
    language = _page_language()
    text_key = f"{CACHE_PREFIX}llm:{_digest(model, base_url, language, found)}"
    cached = _cache_get(text_key)
    if isinstance(cached, dict) and isinstance(cached.get("text"), str) and cached["text"]:
        return cached
    endpoint_key = f"{CACHE_PREFIX}down:{_digest(model, base_url)}"
    failed_key = f"{CACHE_PREFIX}failed:{text_key.rsplit(':', 1)[1]}"
    if _cache_get(endpoint_key) or _cache_get(failed_key):
        return None  # failed a moment ago: the template, without waiting for the server again
    timeout_s = float(config.get("LLM_TIMEOUT_S") or 15.0)
    body = {"model": model, "temperature": 0, "max_tokens": MAX_TOKENS,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT.format(language=LANGUAGES[language])},
                         {"role": "user", "content": "Facts: " + orjson.dumps(found, option=orjson.OPT_SORT_KEYS)
                          .decode()}]}
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = config.get("LLM_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        text = aio.run_sync(_complete(f"{base_url}/chat/completions", headers, body, timeout_s),
                            timeout=timeout_s + 1.0)
    except Exception as exc:  # noqa: BLE001 - every failure falls back to the template
        kind, status = _failure(exc)
        # The failure's kind, status and type only: an exception's text is not logged (it could quote a header).
        log.warning("narrative_llm_failed", kind=kind, status=status, model=model, host=_host(base_url),
                    error=type(exc).__name__)
        # No usable 2xx answer: skip the endpoint for a while; an unusable body: skip these facts.
        down = kind in ("timeout", "connection", "status", "client")
        _cache_set(endpoint_key if down else failed_key, {"kind": kind, "status": status}, FAILURE_CACHE_S)
        return None
    generated = {"text": text, "model": model or None, "generated_at": datetime.now(timezone.utc).isoformat()}
    _cache_set(text_key, generated, float(config.get("LLM_CACHE_S") or 604800.0))
    return generated


def _failure(exc: BaseException) -> tuple[str, int | None]:
    if isinstance(exc, LLMFailure):
        return exc.kind, exc.status
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts, asyncio's and the bridge's are all TimeoutError
        return "timeout", None
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return "connection", None
    if isinstance(exc, aiohttp.ClientError):
        return "client", None
    return "error", None


def _host(base_url: str) -> str | None:
    try:
        return URL(base_url).host  # never the userinfo of a URL that carries one
    except Exception:  # noqa: BLE001
        return None


async def _complete(url: str, headers: dict[str, str], body: dict[str, Any], timeout_s: float) -> str:
    """POST the chat completion on the bridge loop; return its stripped, bounded text or raise LLMFailure."""
    async with asyncio.timeout(timeout_s):
        session = aio.get_session()
        async with session.post(url, data=orjson.dumps(body), headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            status = response.status
            if not 200 <= status < 300:
                raise LLMFailure("status", status)
            if (response.content_length or 0) > MAX_RESPONSE_BYTES:
                raise LLMFailure("too_large", status)
            raw = bytearray()
            async for chunk in response.content.iter_chunked(16 * 1024):
                raw += chunk
                if len(raw) > MAX_RESPONSE_BYTES:
                    raise LLMFailure("too_large", status)
    return _content(bytes(raw), status)


def _content(raw: bytes, status: int) -> str:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise LLMFailure("malformed", status) from None
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMFailure("malformed", status) from None
    if not isinstance(content, str):
        raise LLMFailure("malformed", status)
    text = " ".join(content.split())  # one paragraph: the model's line breaks and runs of spaces go
    if not text:
        raise LLMFailure("empty", status)
    if len(text) > MAX_TEXT_CHARS:
        cut = text[:MAX_TEXT_CHARS]
        end = cut.rfind(". ")
        text = cut[:end + 1] if end >= MAX_TEXT_CHARS // 2 else cut.rsplit(" ", 1)[0] + "…"
    return text
